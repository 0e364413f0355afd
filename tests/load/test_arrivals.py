"""The rate mode's arrival processes (``loadtests/arrivals.py``): evenly spaced users interleave
on one grid whenever they start, Poisson gaps are exponential, each schedule counts its own
sends in a window exactly; and real Locust sends as the setting says (``--arrivals``)."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from chatbench.load import locust as loadgen
from loadtests import arrivals
from tests.load.apitarget import Target


def _union(schedules: list[arrivals.Schedule], until: float) -> list[float]:
    times = []
    for s in schedules:
        while s.peek() < until:
            times.append(s.claim())
    return sorted(times)


def test_even_users_interleave_on_one_grid_whenever_they_start() -> None:
    rate, users = 200.0, 8
    # Users start at scattered moments, as Locust spawns them (and as two processes would), at
    # today's epoch, where a running sum of intervals would gather rounding.
    starts = [1_765_000_000.0 + 0.37 * k for k in range(users)]
    schedules = [
        arrivals.schedule("even", rate=rate, users=users, index=k, now=t, rng=random.Random(k))
        for k, t in enumerate(starts)
    ]
    times = [t for t in _union(schedules, starts[0] + 3600) if t >= starts[0] + 4]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) > 700_000  # an hour
    assert max(abs(g - 1 / rate) for g in gaps) < 1e-6  # every gap exactly 1/R
    for k, t in enumerate(starts):
        assert t <= schedules[k].first < t + users / rate  # within one interval of its start


def test_poisson_gaps_are_exponential_with_the_rate_asked() -> None:
    rate, users = 200.0, 8
    schedules = [
        arrivals.schedule(
            "poisson", rate=rate, users=users, index=k, now=0.0, rng=random.Random(f"seed/{k}")
        )  # fmt: skip
        for k in range(users)
    ]
    times = _union(schedules, 100.0)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    mean = statistics.fmean(gaps)
    assert len(times) == pytest.approx(rate * 100, rel=0.05)
    assert mean == pytest.approx(1 / rate, rel=0.05)
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, abs=0.08)  # 0 if evenly spaced


@pytest.mark.parametrize("kind", arrivals.ARRIVALS)
def test_a_schedule_counts_its_sends_in_a_window_exactly(kind: str) -> None:
    s = arrivals.schedule(kind, rate=50.0, users=5, index=3, now=10.0, rng=random.Random(7))
    claimed = [s.claim() for _ in range(40)]  # some claimed, the rest counted ahead
    counted = s.count_between(10.5, 20.0)
    twin = arrivals.schedule(kind, rate=50.0, users=5, index=3, now=10.0, rng=random.Random(7))
    every = _union([twin], 25.0)
    assert every[:40] == claimed
    assert counted == sum(10.5 <= t < 20.0 for t in every) > 0


def test_an_unknown_arrival_process_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of even, poisson"):
        arrivals.schedule("burst", rate=1.0, users=1, index=0, now=0.0, rng=random.Random())
    with pytest.raises(Exception, match="arrivals 'burst' is not one of"):
        loadgen.LoadSpec("http://127.0.0.1:1", mode="rate", rate=10, arrivals="burst")


@pytest.mark.parametrize(
    ("kind", "processes"), [("even", 2), ("poisson", 1)], ids=["even-2-processes", "poisson"]
)
def test_locust_sends_as_the_arrival_setting_says(
    kind: str, processes: int, tmp_path: Path
) -> None:
    """Real Locust at 100 req/s from 10 users: evenly spaced sends arrive about every 10 ms,
    even from two processes (the users' random phases before gave gaps as irregular as
    Poisson's); Poisson sends are as irregular as exponential gaps."""
    with Target() as target:
        spec = loadgen.LoadSpec(
            target.url, scenario="write", mode="rate", rate=100.0, users=10, arrivals=kind,
            warmup_s=1.0, duration_s=2.5, spawn_rate=100, processes=processes,
        )  # fmt: skip
        result = loadgen.run_load(spec, tmp_path)
    doc = result.measured
    assert doc.arrivals == kind and doc.dropped == 0
    gaps = target.arrival_gaps(doc.measure_start, doc.measure_end)
    # Poisson: ~250 arrivals, whose mean gap is off by 6 % (one s.d.) as often as not.
    assert statistics.fmean(gaps) == pytest.approx(0.010, rel=0.1 if kind == "even" else 0.25)
    cv = statistics.pstdev(gaps) / statistics.fmean(gaps)
    if kind == "even":
        assert cv < 0.6, cv  # random phases: 0.87; a loaded machine's stalls spread it
        assert statistics.median(abs(g - 0.010) for g in gaps) < 0.002
    else:
        assert cv > 0.7, cv


def test_rate_mode_users_must_divide_among_the_locust_processes() -> None:
    """Users n·P + w interleave only when every process runs an equal share: 5 users on 2
    processes would put two on one slot and leave another empty, so it is refused; the
    harness sizes its open-model users to a multiple of the processes."""
    with pytest.raises(Exception, match="needs users that divide among them .*not 5"):
        loadgen.LoadSpec("http://127.0.0.1:1", mode="rate", rate=50, users=5, processes=2)
    loadgen.LoadSpec("http://127.0.0.1:1", mode="rate", rate=50, users=6, processes=2)
    loadgen.LoadSpec("http://127.0.0.1:1", mode="closed", users=5, processes=2)
