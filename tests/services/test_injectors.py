"""The test-only regression injectors, in every route style of both services.

``scripts/ab_power.py`` tunes them to a target slowdown: the CPU burn in µs, the extra query
in whole queries per request (``CHATBENCH_EXTRA_QUERY=N``), so the count must be what runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from chatbench.measuring import sqlwork
from impl_django import env as django_env
from tests.conftest import REPO_ROOT


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


def test_a_bad_count_is_one_sentence_naming_the_variable_in_both_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://127.0.0.1:1/none",
        "CHATBENCH_EXTRA_QUERY": "abc",
    }
    done = subprocess.run(
        [sys.executable, "-m", "impl_fastapi.serve"], env=env, capture_output=True, text=True,
        timeout=60, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("CHATBENCH_EXTRA_QUERY: Input should be a valid integer")
    monkeypatch.setenv("CHATBENCH_EXTRA_QUERY", "-1")
    with pytest.raises(ImproperlyConfigured, match="CHATBENCH_EXTRA_QUERY must be >= 0, got -1"):
        django_env.extra_queries()
