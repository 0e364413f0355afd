"""Rate mode keeps its promise: the recorder's schedule count and dropped sends
(``loadtests/recorder.py``), and the overloaded verdict (``chatbench.load.openloop``), without
a service: every request is handed to the recorder by hand."""

from __future__ import annotations

import pytest

from chatbench.load import latency, openloop
from loadtests.arrivals import EvenSchedule
from loadtests.recorder import CREATE, DUE_GRACE_S, INTENDED_KEY, Recorder

T0 = 1_000_000.0


def recorder_at(interval: float, users: int, *, late_from: float | None = None) -> Recorder:
    """A 1 s warm-up + 4 s window; ``users`` users each sending every ``interval`` s from t0,
    on time, or (from ``late_from`` on) never again: a service that stopped answering."""
    rec = Recorder()
    rec.start(
        T0, {"warmup_s": 1.0, "measure_s": 4.0, "mode": "rate", "target_rate": users / interval}
    )
    schedules = []
    for u in range(users):
        first = T0 + u * interval / users
        schedules.append(EvenSchedule(first, interval))
        t = first
        while t < rec.measure_end:
            if late_from is not None and t >= late_from:
                break
            ctx = {INTENDED_KEY: t}
            rec.on_request("POST", CREATE, 5.0, 10, context=ctx, start_time=t + 0.001)
            t += interval
    rec.count_schedule(schedules, now=rec.measure_end + 1)
    return rec


def test_a_kept_schedule_drops_nothing_and_is_not_overloaded() -> None:
    rec = recorder_at(interval=0.05, users=10)  # 200 req/s
    doc = rec.to_doc(now=rec.measure_end + 1)
    # 200 req/s over the 4 s window but its last DUE_GRACE_S: exactly the schedule's own count.
    assert doc["scheduled"] == round(200 * (4.0 - DUE_GRACE_S))
    assert doc["sent_on_time"] == doc["scheduled"] and doc["dropped"] == 0
    verdict = openloop.verdict(latency.parse_requests(doc))
    assert verdict is not None and not verdict.overloaded
    assert verdict.achieved_rate == pytest.approx(200.0)


def test_sends_that_never_went_out_are_dropped_and_overloaded() -> None:
    rec = recorder_at(interval=0.05, users=10, late_from=T0 + 3.0)  # nothing after 2 s measured
    doc = rec.to_doc(now=rec.measure_end + 1)
    assert doc["dropped"] == doc["scheduled"] - doc["sent_on_time"] > 0
    assert doc["dropped"] == pytest.approx(200 * (2.0 - DUE_GRACE_S), abs=10)
    verdict = openloop.verdict(latency.parse_requests(doc))
    assert verdict is not None and verdict.overloaded
    assert verdict.achieved_rate == pytest.approx(200 * 2.0 / (4.0 - DUE_GRACE_S), rel=0.03)
    assert "sends dropped" in verdict.describe()


def test_a_closed_loop_document_has_no_rate_verdict() -> None:
    rec = Recorder()
    rec.start(T0, {"warmup_s": 1.0, "measure_s": 4.0, "mode": "closed", "target_rate": None})
    assert openloop.verdict(latency.parse_requests(rec.to_doc(now=T0 + 6.0))) is None


def test_users_are_sized_from_the_rate_and_the_latency_budget() -> None:
    assert openloop.users_for(400, 0.25) == 100
    assert openloop.users_for(1, 0.25) == 2
    # Each user sends every users / rate s: a response under the budget never holds one back.
    assert openloop.users_for(333, 0.25) / 333 >= 0.25
