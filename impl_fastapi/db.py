"""Database engines, the pool axis, and the session dependencies.

The engine is created once per worker process, in the app's lifespan (main.py), and only the one
the route style needs: ``async`` uses SQLAlchemy's asyncio engine on asyncpg
(``postgresql+asyncpg://``), ``sync`` and ``seed`` a sync engine on psycopg 3
(``postgresql+psycopg://``).

Pool axis (``CHATBENCH_DB_POOL``), with ``cap`` = the worker's share of the service-wide cap,
``max(1, CHATBENCH_DB_MAX_CONNECTIONS // CHATBENCH_WORKERS)``:

=============  ================================================================  ================
mode           SQLAlchemy                                                        Django meaning
=============  ================================================================  ================
``none``       ``NullPool``: a new connection per request, closed at its end     CONN_MAX_AGE=0
``persistent`` ``QueuePool(pool_size=cap, max_overflow=0, pool_pre_ping=False)``:  CONN_MAX_AGE
               connections opened lazily on first need, then kept and reused     > 0 (kept)
``pool``       the same ``QueuePool`` (``pool_use_lifo=True``) with all ``cap``    psycopg_pool,
               connections opened at startup, like a psycopg_pool opened with    max_size=cap
               ``min_size=max_size=cap``
=============  ================================================================  ================

In SQLAlchemy every engine with a ``QueuePool`` already *is* a per-process pool shared by all of
the worker's requests, so ``persistent`` and ``pool`` differ only in when connections are opened.
``QueuePool(pool_size=1, max_overflow=cap-1)`` would not be a psycopg_pool equivalent: overflow
connections are closed at check-in, so every burst would reconnect.

Connection cap: each session dependency first takes a slot of a per-worker
``asyncio.Semaphore(cap)``, so a worker never has more than ``cap`` sessions (hence connections)
open, in every mode including ``none``. Waiting for a slot happens on the event loop, never in a
worker thread. That matters for the sync styles: with the textbook ``def get_db(): yield`` the
dependency's teardown needs a threadpool thread to give the connection back, and once every thread
is blocked waiting on the pool nothing can (fastapi/fastapi#3205); the pool's own
``pool_timeout`` then turns the stall into errors after 30 s.

Transactions: the engines run in ``AUTOCOMMIT`` (PostgreSQL's own default, and Django's). Every
API request is a single statement, so an explicit transaction would only add a ``BEGIN`` and a
``COMMIT``/``ROLLBACK`` round trip per request that the Django service does not pay. Endpoints
still call ``commit()`` after writes, which here only ends the session's use of the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from starlette.concurrency import run_in_threadpool

from impl_fastapi.config import Settings
from impl_fastapi.queries import SELECT_ONE

log = logging.getLogger(__name__)

APPLICATION_NAME = "chatbench-fastapi"


def driver_url(database_url: str, driver: str) -> str:
    """``postgresql://u@h:p/db`` → ``postgresql+<driver>://u@h:p/db`` (keeps the password)."""
    url = make_url(database_url)
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {url.drivername!r}")
    return url.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def pool_options(settings: Settings) -> dict[str, Any]:
    """create_engine() keyword arguments for ``CHATBENCH_DB_POOL`` (table in the module docstring)."""
    if settings.db_pool == "none":
        return {"poolclass": NullPool}
    options: dict[str, Any] = {
        "pool_size": settings.connections_per_worker,
        "max_overflow": 0,
        "pool_pre_ping": False,
    }
    if settings.db_pool == "pool":
        options["pool_use_lifo"] = True
    return options


@dataclass(frozen=True, slots=True)
class Database:
    """One worker's engine, session factory and connection-cap semaphore."""

    limiter: asyncio.Semaphore
    async_engine: AsyncEngine | None = None
    async_sessions: async_sessionmaker[AsyncSession] | None = None
    sync_engine: Engine | None = None
    sync_sessions: sessionmaker[Session] | None = None

    async def ping(self) -> None:
        """``SELECT 1``; raises if the database cannot be reached."""
        async with self.limiter:
            if self.async_engine is not None:
                async with self.async_engine.connect() as conn:
                    await conn.execute(SELECT_ONE)
            else:
                await run_in_threadpool(self._sync_ping)

    def _sync_ping(self) -> None:
        assert self.sync_engine is not None
        with self.sync_engine.connect() as conn:
            conn.execute(SELECT_ONE)

    async def warm(self, connections: int) -> None:
        """Open ``connections`` connections now and return them to the pool."""
        if self.async_engine is not None:
            async with AsyncExitStack() as stack:
                for _ in range(connections):
                    await stack.enter_async_context(self.async_engine.connect())
        else:
            assert self.sync_engine is not None
            engine = self.sync_engine

            def open_all() -> None:
                with ExitStack() as stack:
                    for _ in range(connections):
                        stack.enter_context(engine.connect())

            await run_in_threadpool(open_all)

    async def dispose(self) -> None:
        if self.async_engine is not None:
            await self.async_engine.dispose()
        if self.sync_engine is not None:
            self.sync_engine.dispose()


async def open_database(settings: Settings) -> Database:
    """Create the engine the route style needs (called once per worker, in the lifespan)."""
    engine_options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT", **pool_options(settings)}
    limiter = asyncio.Semaphore(settings.connections_per_worker)
    if settings.fastapi_routes == "async":
        async_engine = create_async_engine(
            driver_url(settings.database_url, "asyncpg"),
            connect_args={"server_settings": {"application_name": APPLICATION_NAME}},
            **engine_options,
        )
        db = Database(
            limiter=limiter,
            async_engine=async_engine,
            async_sessions=async_sessionmaker(async_engine, expire_on_commit=False),
        )
    else:
        sync_engine = create_engine(
            driver_url(settings.database_url, "psycopg"),
            connect_args={"application_name": APPLICATION_NAME},
            **engine_options,
        )
        db = Database(
            limiter=limiter,
            sync_engine=sync_engine,
            sync_sessions=sessionmaker(sync_engine, expire_on_commit=False),
        )
    if settings.db_pool == "pool":
        try:
            await db.warm(settings.connections_per_worker)
        except Exception as exc:  # the pool fills on demand instead; /health reports the outage
            log.warning("could not pre-open database connections: %s", exc)
    return db


async def get_async_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.state.db
    assert db.async_sessions is not None
    async with db.limiter, db.async_sessions() as session:
        yield session


async def get_session(request: Request) -> AsyncIterator[Session]:
    # An async generator on purpose (see "Connection cap" above): the slot is awaited on the
    # loop, and creating a Session does no I/O. Closing it may (returning the connection to the
    # pool resets it), so that runs in the threadpool, as a `def` dependency's teardown would.
    db: Database = request.state.db
    assert db.sync_sessions is not None
    async with db.limiter:
        session = db.sync_sessions()
        try:
            yield session
        finally:
            await run_in_threadpool(session.close)


# scope="function": the session is closed (its connection back in the pool) before the response
# is sent, not after.
AsyncSessionDep = Annotated[AsyncSession, Depends(get_async_session, scope="function")]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
