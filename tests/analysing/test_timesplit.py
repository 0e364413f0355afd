"""Where the time goes (``chatbench.analysing.timesplit``), on a committed closed-loop run: the
split adds up, and the closed-loop sentence says how much of the latency is waiting, with
Little's law from the run's own figures."""

from __future__ import annotations

import math

import pytest

from chatbench.analysing import timesplit
from chatbench.storing.rundir import load_run
from tests.fixtures.runs import RUN_SMALL


def test_cpu_db_and_waiting_add_up_to_the_mean_latency() -> None:
    run = load_run(RUN_SMALL)
    splits = timesplit.split(run)
    assert [s.variant for s in splits] == list(run.variants)
    for s in splits:
        assert s.cpu_ms > 0 and s.db_ms > 0 and s.latency_ms > 0
        assert s.cpu_ms + s.db_ms + s.waiting_ms == pytest.approx(s.latency_ms)
        assert 0 <= s.waiting_share <= 1


def test_the_closed_loop_sentence_uses_littles_law_with_the_runs_figures() -> None:
    run = load_run(RUN_SMALL)
    users = int(run.config.users or 0)
    first = timesplit.split(run)[0]
    said = timesplit.closed_loop_sentence(first, users)
    assert said is not None
    little = 1000 * users / first.rps
    assert f"{users} users / {first.rps:,.0f} req/s = {little:.1f} ms" in said
    assert f"({100 * first.waiting_share:.0f} %) is waiting" in said
    # Little's law holds for the run: the measured mean is the law's figure, give or take the
    # users' ramp and the window's edges.
    assert math.isclose(first.latency_ms, little, rel_tol=0.15), (first.latency_ms, little)
