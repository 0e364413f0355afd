"""The test-only regression injectors, in every route style of both services.

``scripts/ab_power.py`` tunes them to a target slowdown: the CPU burn in µs, the extra query
in whole queries per request (``CHATBENCH_EXTRA_QUERY=N``), so the count must be what runs.
"""

from __future__ import annotations

import time

import httpx
import pytest

from chatbench.measuring import sqlwork


@pytest.mark.parametrize("name", ["django", "django-async", "fastapi", "fastapi-sync"])
def test_the_burn_and_n_extra_queries_run_on_every_api_request(start_variant, name: str) -> None:
    burn_s, queries, requests = 0.05, 2, 3
    server = start_variant(
        name,
        db_name=f"t_injectors_{name.replace('-', '_')}",
        extra_env={
            "CHATBENCH_EXTRA_QUERY": str(queries),
            "CHATBENCH_BURN_US": str(int(burn_s * 1e6)),
        },
    )
    try:
        sqlwork.reset(server.database_url)
        with httpx.Client(base_url=server.base_url, timeout=20) as client:
            for _ in range(requests):
                started = time.perf_counter()
                assert client.get("/api/chat/messages/1").status_code == 200
                assert time.perf_counter() - started >= burn_s  # the burn is CPU time
        statements = {s.query: s.calls for s in sqlwork.read(server.database_url)}
    finally:
        server.stop()
    # pg_stat_statements normalises the constant where the driver sends it as a parameter.
    extra = sum(calls for query, calls in statements.items() if query in ("SELECT 1", "SELECT $1"))
    assert extra == queries * requests, statements
