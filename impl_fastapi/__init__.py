"""The FastAPI + SQLAlchemy 2 ChatMessage service (one of the two services chatbench compares).

Started only through ``python -m impl_fastapi.serve`` and configured only through the environment
(names in docs/interfaces.md). ``CHATBENCH_FASTAPI_ROUTES`` picks one of three route styles that
share schemas, model and queries: ``async`` (AsyncSession on asyncpg), ``sync`` (plain ``def``
endpoints, sync Session on psycopg 3, threadpool) and ``seed`` (``async def`` endpoints calling a
sync Session, which blocks the event loop).
"""
