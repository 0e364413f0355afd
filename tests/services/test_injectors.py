"""The test-only regression injectors, in every route style of both services.

``scripts/ab_power.py`` tunes them to a target slowdown: the CPU burn in µs, the extra query
in queries per request on average (``CHATBENCH_EXTRA_QUERY=N``, fractions allowed: one query
costs FastAPI ~20 % of its throughput), so the count must be what runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal
from fractions import Fraction

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from pydantic import ValidationError

from chatbench.measuring import sqlwork
from impl_django import env as django_env
from impl_django.chat.injectors import QuerySchedule as DjangoSchedule
from impl_fastapi import config as fastapi_config
from impl_fastapi.injectors import QuerySchedule as FastAPISchedule
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("name", ["django", "django-async", "fastapi", "fastapi-sync"])
def test_the_burn_and_the_extra_queries_run_on_api_requests(start_variant, name: str) -> None:
    # 1.5 queries per request: one on every request and a second on every other, so four
    # requests to one worker run exactly six.
    burn_s, queries, requests = 0.05, "1.5", 4
    server = start_variant(
        name,
        db_name=f"t_injectors_{name.replace('-', '_')}",
        extra_env={
            "CHATBENCH_EXTRA_QUERY": queries,
            "CHATBENCH_BURN_US": str(int(burn_s * 1e6)),
            "CHATBENCH_WORKERS": "1",  # the schedule counts per worker process
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
    assert extra == 6, statements


@pytest.mark.parametrize("rate", ["2", "0.5", "0.49", "1.25", "0"])
def test_the_schedule_runs_the_rate_on_average_the_same_in_both_services(rate: str) -> None:
    exact = Fraction(Decimal(rate))
    django, fastapi = DjangoSchedule(exact), FastAPISchedule(Decimal(rate))
    due = [django() for _ in range(200)]
    assert due == [fastapi() for _ in range(200)]
    assert sum(due) == 200 * exact  # exactly the rate over a whole number of periods
    assert set(due) <= {int(exact), int(exact) + 1}  # spread evenly, never bunched
    # every prefix is within one query of the rate: a short run sees the same strength
    assert all(abs(sum(due[:k]) - k * exact) < 1 for k in range(1, 201))


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
    assert done.stderr.startswith("CHATBENCH_EXTRA_QUERY: Input should be a valid decimal")
    monkeypatch.setenv("CHATBENCH_EXTRA_QUERY", "-1")
    with pytest.raises(ImproperlyConfigured, match="CHATBENCH_EXTRA_QUERY must be >= 0, got -1"):
        django_env.extra_queries()


@pytest.mark.parametrize(
    "raw", ["-1", "1/2", "nan", "inf", "1001", "1e999999999", "1e-999999999", "0.0000001"]
)
def test_both_services_refuse_the_same_rates(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rate is a decimal from 0 to 1000 with at most 6 places, in both services (an exact
    fraction of 1e-999999999 would need a billion-digit denominator)."""
    monkeypatch.setenv("CHATBENCH_EXTRA_QUERY", raw)
    monkeypatch.setenv("DATABASE_URL", "postgresql://127.0.0.1:1/none")
    with pytest.raises(ImproperlyConfigured, match="^CHATBENCH_EXTRA_QUERY must "):
        django_env.extra_queries()
    with pytest.raises(ValidationError) as refused:
        fastapi_config.Settings()
    assert [e["loc"] for e in refused.value.errors()] == [("extra_query",)]


@pytest.mark.parametrize("raw", ["0", "0.5", "2", "0.000001", "1000", "0.50000000"])
def test_both_services_read_the_same_rate(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBENCH_EXTRA_QUERY", raw)
    monkeypatch.setenv("DATABASE_URL", "postgresql://127.0.0.1:1/none")
    assert django_env.extra_queries() == Fraction(fastapi_config.Settings().extra_query)
