"""SQL work per request: attribution of pg_stat_statements to endpoints, the table, the CSV."""

from __future__ import annotations

import pytest

from chatbench.measuring import sqlwork
from chatbench.measuring.sqlwork import Statement

INSERT = "INSERT INTO chat_messages (role) VALUES ($1) RETURNING id"
HISTORY = "SELECT * FROM chat_messages WHERE session_id = $1 LIMIT $2"
PING = "SELECT $1"

# What each endpoint ran when called alone 20 times (fastapi with the extra-query injector).
PROFILE = {
    "POST /api/chat/messages": {
        "calls": 20, "statements_per_call": 2.0, "rows_per_call": 2.0, "db_exec_ms_per_call": 0.1,
        "statements": [{"query": INSERT, "calls": 20, "rows": 20, "exec_ms": 1.6},
                       {"query": PING, "calls": 20, "rows": 20, "exec_ms": 0.4}],
    },
    "GET /api/chat/messages": {
        "calls": 20, "statements_per_call": 2.0, "rows_per_call": 21.0, "db_exec_ms_per_call": 0.05,
        "statements": [{"query": HISTORY, "calls": 20, "rows": 400, "exec_ms": 0.6},
                       {"query": PING, "calls": 20, "rows": 20, "exec_ms": 0.4}],
    },
}  # fmt: skip


def test_attribute_splits_shared_statements_by_how_often_each_endpoint_ran_them():
    window = [
        Statement(INSERT, 300, 300, 30.0),
        Statement(HISTORY, 100, 5000, 20.0),
        Statement(PING, 400, 400, 8.0),  # run by both endpoints: 300 POST + 100 GET
        Statement("VACUUM", 1, 0, 50.0),  # nobody's: unattributed, but in the totals
    ]
    out = sqlwork.attribute(
        window, {"POST /api/chat/messages": 300, "GET /api/chat/messages": 100}, PROFILE
    )
    post, get = out["POST /api/chat/messages"], out["GET /api/chat/messages"]
    assert post["statements_per_request"] == pytest.approx(2.0)
    assert get["statements_per_request"] == pytest.approx(2.0)
    assert post["db_exec_ms_per_request"] == pytest.approx((30.0 + 6.0) / 300)
    assert get["rows_per_request"] == pytest.approx((5000 + 100) / 100)
    totals = sqlwork.per_request(window, 400)
    assert totals["statements_per_request"] == pytest.approx(801 / 400)
    assert "per_endpoint" not in totals


# -- ConnectionSampler: a peak is only evidence when samples succeeded ------------------------


def test_connection_sampler_that_cannot_connect_reports_no_samples_and_why():
    from chatbench.provisioning import ports

    url = f"postgresql://postgres@127.0.0.1:{ports.free_port()}/postgres"  # nothing listens
    sampler = sqlwork.ConnectionSampler(url, "cb_fastapi", interval_s=0.01).start()
    peak = sampler.stop()
    assert peak == 0 and sampler.peak == 0
    assert sampler.samples == 0  # peak 0 here means "never seen", not "no connection held"
    assert sampler.error and "Cannot connect to PostgreSQL" in sampler.error


def test_connection_sampler_counts_successful_samples(pg_server_url):
    import time

    from chatbench.provisioning import postgres

    sampler = sqlwork.ConnectionSampler(pg_server_url, "postgres", interval_s=0.01).start()
    with postgres.connect(pg_server_url):  # one client connection on "postgres" to be seen
        deadline = time.monotonic() + 10
        while sampler.samples < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    sampler.stop()
    assert sampler.samples >= 3
    assert sampler.error is None
    assert sampler.peak >= 2  # the sampler's own connection and ours
