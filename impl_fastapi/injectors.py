"""TEST-ONLY regression injectors, off unless their variable is set.

They exist for the harness's own regression tests: a known slowdown is switched on and
``chatbench check`` must flag it. Never enable them in a measurement.

- ``CHATBENCH_BURN_US=N``: every API request busy-loops N microseconds of CPU (not a sleep: the
  worker is genuinely busy, as with a slower code path);
- ``CHATBENCH_EXTRA_QUERY=N``: every API request runs N extra ``SELECT 1`` through its own
  session (N more statements and round trips, visible in pg_stat_statements; N sets the
  strength, so a power trial can tune it).
"""

from __future__ import annotations

from collections.abc import Callable
from time import thread_time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from impl_fastapi.db import AsyncSessionDep, SessionDep
from impl_fastapi.queries import SELECT_ONE
from impl_fastapi.routes.common import PREFIX


def burn_cpu(seconds: float) -> None:
    """Busy-loop until this thread has used ``seconds`` of CPU: counted in CPU time, not wall
    time, so the cost stays fixed when the process shares its CPU and is preempted mid-loop."""
    deadline = thread_time() + seconds
    while thread_time() < deadline:
        pass


class BurnCpuMiddleware:
    """Pure ASGI middleware: burn CPU before each API request (not /health, not /docs)."""

    def __init__(self, app: ASGIApp, microseconds: int) -> None:
        self.app = app
        self.seconds = microseconds / 1_000_000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            burn_cpu(self.seconds)
        await self.app(scope, receive, send)


def extra_queries(count: int, routes: str) -> Callable[..., Any]:
    """The route dependency that runs ``count`` extra ``SELECT 1``: async for the async
    routes; a plain def for the sync ones, which FastAPI runs in its threadpool."""

    async def extra_query_async(session: AsyncSessionDep) -> None:
        for _ in range(count):
            await session.execute(SELECT_ONE)

    def extra_query_sync(session: SessionDep) -> None:
        for _ in range(count):
            session.execute(SELECT_ONE)

    return extra_query_async if routes == "async" else extra_query_sync
