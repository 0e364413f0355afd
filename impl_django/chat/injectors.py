"""TEST-ONLY regression injectors, for the harness's own regression tests.

They make the service measurably worse on purpose so `chatbench check` can prove
it catches a slowdown. Settings install them only when their variable is set:
- CHATBENCH_BURN_US=N: busy-loop N microseconds of CPU per API request (real CPU
  work, not a sleep, so it shows up in CPU-seconds and throughput);
- CHATBENCH_EXTRA_QUERY=N: N extra `SELECT 1` round trips per API request on average (shows
  up in pg_stat_statements and latency; N sets the strength, so a power trial can tune it, and
  may be a fraction: 0.5 is one query on every other request, see QuerySchedule).
Only /api/ requests are affected; /health, /docs and /openapi.json are not. Both are sync and
async capable, so under ASGI they add no thread hop of their own (each extra query takes one, as
every query of the async ORM does; FastAPI's async routes await theirs on the loop).
"""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from fractions import Fraction

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async

from impl_django import env

from .queries import select_one

API_PREFIX = "/api/"


class BurnCPUMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.seconds = env.burn_us() / 1_000_000
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def burn(self, request) -> None:
        if request.path.startswith(API_PREFIX):
            # CPU time, not wall time: the cost stays fixed when the worker is preempted.
            deadline = time.thread_time() + self.seconds
            while time.thread_time() < deadline:
                pass

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        self.burn(request)
        return self.get_response(request)

    async def __acall__(self, request):
        self.burn(request)  # on the event loop, as a CPU-bound view would
        return await self.get_response(request)


class QuerySchedule:
    """How many extra queries the next request runs, for ``rate`` queries per request on
    average: request i runs floor((i+1)·rate) − floor(i·rate). So 2 runs two on every request,
    0.5 one on every other, 1.25 one and a second on every fourth: the mean is exactly the rate,
    without randomness to blur a power trial. Counted per worker process; ``next()`` on an
    itertools.count is atomic with CPython's GIL, so a worker's threads can share it. (The FastAPI
    service has the same schedule: the two services share no code.)"""

    def __init__(self, rate: Decimal | Fraction | int) -> None:
        exact = Fraction(rate)
        self.numerator, self.denominator = exact.numerator, exact.denominator
        self.requests = itertools.count()

    def __call__(self) -> int:
        i = next(self.requests)
        n, d = self.numerator, self.denominator
        return (i + 1) * n // d - i * n // d


class ExtraQueryMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.due = QuerySchedule(env.extra_queries())
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if request.path.startswith(API_PREFIX):
            for _ in range(self.due()):
                select_one()
        return self.get_response(request)

    async def __acall__(self, request):
        if request.path.startswith(API_PREFIX):
            for _ in range(self.due()):
                await sync_to_async(select_one)()
        return await self.get_response(request)
