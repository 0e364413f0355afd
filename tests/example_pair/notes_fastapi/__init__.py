"""The FastAPI port of notes_django (plain def handlers, SQLAlchemy Core on psycopg, uvicorn):
the other half of the example pair. Same API, same table, same environment."""
