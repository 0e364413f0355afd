"""chatbench's Django REST Framework service: the ChatMessage API on PostgreSQL.

`project` holds settings and the URL root, `chat` the one app (model, serializers,
viewset, error contract), `gunicorn_conf` and `serve_asgi` the two ways it is served.
It never imports the harness; everything it needs comes from environment variables
(names in docs/interfaces.md, read in `env`).
"""
