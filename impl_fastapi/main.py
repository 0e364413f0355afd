"""The ASGI app: ``create_app(settings)`` and the module-level ``app`` uvicorn imports.

``CHATBENCH_FASTAPI_ROUTES`` picks which router is mounted; everything else (health, errors,
size limits, injectors, OpenAPI at /openapi.json and /docs) is the same for all three styles.

Responses: routes declare their return type, so FastAPI serializes through pydantic straight to
JSON bytes (compact, UTF-8). That is FastAPI's recommended fast path since ``ORJSONResponse``
was deprecated (FastAPI 0.13x); a ``default_response_class`` would switch it off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request

from impl_fastapi import config, errors, gcpauses, openapi
from impl_fastapi.cache import AsyncMessageCache, SyncMessageCache
from impl_fastapi.config import RouteStyle, Settings
from impl_fastapi.db import Database, open_database
from impl_fastapi.injectors import BurnCpuMiddleware, extra_queries
from impl_fastapi.limits import BodySizeLimitMiddleware, RequestHeadLimitMiddleware
from impl_fastapi.routes import async_routes, seed_routes, sync_routes

ROUTERS: dict[RouteStyle, APIRouter] = {
    "async": async_routes.router,
    "sync": sync_routes.router,
    "seed": seed_routes.router,
}


def open_cache(settings: Settings) -> AsyncMessageCache | SyncMessageCache | None:
    if not settings.cache_url:
        return None
    if settings.fastapi_routes == "async":
        return AsyncMessageCache(settings.cache_url, settings.cache_ttl)
    return SyncMessageCache(settings.cache_url, settings.cache_ttl)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else config.load()
    # Every worker process builds the app once: the garbage-collection hook and the gc axis
    # (gcpauses.py) start here, before the app is built, and take effect in the lifespan.
    gcpauses.install(settings.gc, settings.gc_log)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # Once per worker process: the engine (and its pool) lives as long as the worker.
        db = await open_database(settings)
        cache = open_cache(settings)
        gcpauses.started()  # start-up is over: the engine and cache client are open
        try:
            yield {"db": db, "cache": cache}
        finally:
            if cache is not None:
                await cache.close()
            await db.dispose()

    app = FastAPI(
        title="chatbench FastAPI service",
        summary=f"ChatMessage API, {settings.fastapi_routes} route style",
        description=openapi.DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        # Slashed paths are registered explicitly and answer like the canonical ones,
        # instead of a 307 redirect.
        redirect_slashes=False,
    )
    app.add_middleware(BodySizeLimitMiddleware)
    if settings.burn_us:
        app.add_middleware(BurnCpuMiddleware, microseconds=settings.burn_us)
    # Added last, so outermost: an over-long request line or header is refused before anything
    # else runs, as on the Django service.
    app.add_middleware(RequestHeadLimitMiddleware)
    errors.install(app)

    extra = extra_queries(settings.extra_query, settings.fastapi_routes)
    app.include_router(
        ROUTERS[settings.fastapi_routes],
        dependencies=[Depends(extra)] if settings.extra_query else None,
    )

    @app.get("/health", **openapi.HEALTH)
    @app.get("/health/", include_in_schema=False)
    async def health(request: Request) -> dict[str, str]:
        """Readiness: 200 once ``SELECT 1`` succeeds, 503 while the database is unreachable."""
        db: Database = request.state.db
        try:
            await db.ping()
        except Exception as exc:
            raise HTTPException(status_code=503) from exc
        return {"status": "ok"}

    return app


app = create_app()
