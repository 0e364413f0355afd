"""TEST-ONLY regression injectors, off unless their variable is set.

They exist for the harness's own regression tests: a known slowdown is switched on and
``chatbench check`` must flag it. Never enable them in a measurement.

- ``CHATBENCH_BURN_US=N``: every API request busy-loops N microseconds of CPU (not a sleep: the
  worker is genuinely busy, as with a slower code path);
- ``CHATBENCH_EXTRA_QUERY=N``: API requests run N extra ``SELECT 1`` on average through the
  request's session (more statements and round trips, visible in pg_stat_statements; N sets the
  strength, so a power trial can tune it, and may be a fraction: 0.5 is one query on every
  other request, see ``QuerySchedule``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
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


class QuerySchedule:
    """How many extra queries the next request runs, for ``rate`` queries per request on
    average: request i runs floor((i+1)·rate) − floor(i·rate). So 2 runs two on every request,
    0.5 one on every other, 1.25 one and a second on every fourth: the mean is exactly the rate,
    without randomness to blur a power trial. Counted per worker process; ``next()`` on an
    itertools.count is atomic with CPython's GIL, so the sync routes' threadpool can share it. (The
    Django service has the same schedule: the two services share no code.)"""

    def __init__(self, rate: Decimal | Fraction | int) -> None:
        exact = Fraction(rate)
        self.numerator, self.denominator = exact.numerator, exact.denominator
        self.requests = itertools.count()

    def __call__(self) -> int:
        i = next(self.requests)
        n, d = self.numerator, self.denominator
        return (i + 1) * n // d - i * n // d


def extra_queries(rate: Decimal, routes: str) -> Callable[..., Any]:
    """The route dependency that runs ``rate`` extra ``SELECT 1`` per request on average: async
    for the async routes; a plain def for the sync ones, which FastAPI runs in its threadpool."""
    due = QuerySchedule(rate)

    async def extra_query_async(session: AsyncSessionDep) -> None:
        for _ in range(due()):
            await session.execute(SELECT_ONE)

    def extra_query_sync(session: SessionDep) -> None:
        for _ in range(due()):
            session.execute(SELECT_ONE)

    return extra_query_async if routes == "async" else extra_query_sync
