"""TEST-ONLY regression injectors, for the harness's own regression tests.

They make the service measurably worse on purpose so `chatbench check` can prove
it catches a slowdown. Settings install them only when their variable is set:
- CHATBENCH_BURN_US=N: busy-loop N microseconds of CPU per API request (real CPU
  work, not a sleep, so it shows up in CPU-seconds and throughput);
- CHATBENCH_EXTRA_QUERY=1: one extra `SELECT 1` per API request (shows up in
  pg_stat_statements and latency).
Only /api/ requests are affected; /health, /docs and /openapi.json are not.
"""

from __future__ import annotations

import time

from django.db import connection

from impl_django import env

API_PREFIX = "/api/"


class BurnCPUMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.seconds = env.burn_us() / 1_000_000

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            # CPU time, not wall time: the cost stays fixed when the worker is preempted.
            deadline = time.thread_time() + self.seconds
            while time.thread_time() < deadline:
                pass
        return self.get_response(request)


class ExtraQueryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        return self.get_response(request)
