"""What a service is made of, read from its own app objects: run as ``python -m tests.services.variant_probe``.

Run in a subprocess with a variant's service environment (settings are read at import, once per
process). It imports the app the way the server does, looks at the route handlers, middleware,
ORM or session and connection settings, and prints one JSON object with the parts of
``chatbench.configuration.variants.Claims`` that can be read from code: ``stack``, ``handlers``, ``data`` and
``connections`` (the ``server`` part is seen on the running process, by the test). Nothing here
connects to the database.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from typing import Any

API_PATHS = ("/api/chat/messages", "/api/chat/messages/1", "/health")


def _handlers(coroutines: list[bool], middleware_async: bool, sync_session: bool) -> str:
    """The ``Claims.handlers`` key these observations amount to (``mixed`` fits none)."""
    if not any(coroutines):
        return "threads"
    if all(coroutines) and sync_session:
        return "blocking"
    if all(coroutines) and middleware_async:
        return "event-loop"
    return "mixed"


def django() -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impl_django.project.settings")
    import adrf.views
    import django
    import psycopg
    from asgiref.sync import iscoroutinefunction
    from django.conf import settings
    from django.db import connection
    from django.urls import resolve
    from django.utils.module_loading import import_string

    django.setup()
    callbacks = [resolve(path).func for path in API_PATHS]
    # Django Ninja routes every path to a view function of its own PathView; DRF to a class.
    ninja = all(c.__module__ == "ninja.operation" for c in callbacks)
    assert ninja or all(hasattr(c, "cls") for c in callbacks), callbacks
    # Under ASGI, Django runs a middleware on the loop only if it is async-capable.
    middleware_async = all(
        getattr(import_string(path), "async_capable", False) for path in settings.MIDDLEWARE
    )
    coroutines = [iscoroutinefunction(callback) for callback in callbacks]
    if ninja:
        layer = "Django Ninja"
    elif all(issubclass(c.cls, adrf.views.APIView) for c in callbacks):
        layer = "adrf"
    else:
        layer = "DRF"
    database = settings.DATABASES["default"]
    driver = f"psycopg {psycopg.__version__.split('.')[0]}"
    assert connection.Database is psycopg, connection.Database
    if all(coroutines):
        data = f"Django's async ORM on {driver}, each query through sync_to_async"
    else:
        data = f"Django ORM on {driver}"
    if "pool" in database["OPTIONS"]:
        connections = "psycopg_pool per worker"
    elif database["CONN_MAX_AGE"] is None:
        connections = "persistent connections, one per thread"
    else:
        connections = f"CONN_MAX_AGE={database['CONN_MAX_AGE']}"
    major, minor = django.VERSION[:2]
    return {
        "stack": f"Django {major}.{minor} + {layer}",
        "handlers": _handlers(coroutines, middleware_async, sync_session=False),
        "data": data,
        "connections": connections,
    }


def fastapi() -> dict[str, Any]:
    from fastapi.routing import APIRoute
    from sqlalchemy.pool import QueuePool

    from impl_fastapi.config import Settings
    from impl_fastapi.db import open_database
    from impl_fastapi.main import app

    def api_routes(routes: list) -> list[APIRoute]:
        found = []
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI >= 0.16x includes lazily
            if included is not None:
                found += api_routes(included.routes)
            elif isinstance(route, APIRoute) and route.path.startswith("/api/"):
                found.append(route)
        return found

    # The API's routes; /health is an async def in every route style (impl_fastapi/main.py).
    routes = api_routes(app.routes)
    assert routes, "no /api/ route found in the app"
    coroutines = [inspect.iscoroutinefunction(route.endpoint) for route in routes]
    middleware_async = all(
        inspect.iscoroutinefunction(getattr(m.cls, "dispatch", m.cls.__call__))
        for m in app.user_middleware
    )
    db = asyncio.run(open_database(Settings()))
    try:
        engine = db.async_engine if db.async_engine is not None else db.sync_engine
        assert engine is not None
        session = "AsyncSession" if db.async_sessions is not None else "Session"
        driver = {"asyncpg": "asyncpg", "psycopg": "psycopg 3"}.get(
            engine.dialect.driver, engine.dialect.driver
        )
        pool = engine.pool
        kind = "QueuePool" if isinstance(pool, QueuePool) else type(pool).__name__
    finally:
        asyncio.run(db.dispose())
    return {
        "stack": "FastAPI",
        "handlers": _handlers(coroutines, middleware_async, sync_session=session == "Session"),
        "data": f"SQLAlchemy {session} on {driver}",
        "connections": f"{kind} per worker",
    }


def main() -> None:
    framework = sys.argv[1]
    print(json.dumps(django() if framework == "django" else fastapi()))


if __name__ == "__main__":
    main()
