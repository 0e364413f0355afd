"""The SLO search's steps (``workflows.phases.slo.next_rate``), against services of known edge."""

from __future__ import annotations

import pytest

from chatbench.analysing import slo as answer
from chatbench.workflows.phases import slo


def search(capacity: float, outcome_at) -> tuple[list[answer.SloWindow], str]:
    windows: list[answer.SloWindow] = []
    while True:
        rate, ended = slo.next_rate(windows, capacity)
        if rate is None:
            return windows, ended
        windows.append(answer.SloWindow(rate, outcome_at(rate)))


def edge(knee: float):
    return lambda rate: answer.KEPT if rate <= knee else answer.MISSED


@pytest.mark.parametrize("knee", [37.0, 120.0, 260.0, 390.0, 399.0, 555.0])
def test_the_search_brackets_the_edge_within_fifteen_percent(knee: float) -> None:
    capacity = 400.0
    windows, ended = search(capacity, edge(knee))
    b = answer.bracket(windows)
    assert b.stable and b.low is not None
    assert len(windows) <= slo.MAX_STEPS
    if knee >= capacity:
        assert b.low == capacity and "ceiling" in ended
        return
    assert b.low <= knee < b.high, (b, windows)
    assert b.high / b.low <= answer.MAX_BRACKET + 0.01, windows
    assert ended.startswith("bracketed between")


def test_a_search_that_never_keeps_stops_above_the_floor() -> None:
    windows, ended = search(400.0, lambda rate: answer.MISSED)
    assert answer.bracket(windows).low is None
    assert min(w.rate for w in windows) >= slo.FLOOR * 400 and "kept at no rate" in ended


def test_a_swing_stops_the_search_and_is_no_stable_answer() -> None:
    """Windows whose verdict does not rise with the rate (missed at 200, kept at 283)."""
    windows = [answer.SloWindow(200.0, answer.MISSED), answer.SloWindow(283.0, answer.KEPT)]
    rate, ended = slo.next_rate(windows, 400.0)
    assert rate is None and ended == "swing: missed at 200 req/s, kept at 283"
    assert not answer.bracket(windows).stable


def test_rates_too_quiet_to_measure_climb_towards_the_capacity_then_stop() -> None:
    """Nothing missed above an unmeasurable rate: halfway up to the capacity (more of the
    service's collections in a window), until within the bracket's resolution of it."""
    windows, ended = search(400.0, lambda rate: answer.NOT_MEASURED)
    rates = [w.rate for w in windows]
    assert rates == sorted(rates) and rates[0] == 200.0 and rates[1] == 283.0
    assert 400.0 / rates[-1] <= answer.MAX_BRACKET and rates[-1] < 400.0
    assert ended.startswith(f"could not measure at {rates[-1]:,.0f} req/s")


def test_a_window_whose_load_generator_fell_behind_is_tried_once_more() -> None:
    """A saturated load generator measured itself: the same rate again, once. The window says
    so by its flag, not by the words of its reason."""
    behind = answer.SloWindow(200.0, answer.NOT_MEASURED, reason="CPU set {0} busy",
                              loadgen_fault=True)  # fmt: skip
    worded = answer.SloWindow(200.0, answer.NOT_MEASURED, reason="loadgen saturated: CPU set {0}")
    assert slo.next_rate([worded], 400.0)[0] == 283.0  # no flag: a rate it could not measure
    rate, ended = slo.next_rate([behind], 400.0)
    assert (rate, ended) == (200.0, "")
    rate, _ = slo.next_rate([behind, behind], 400.0)
    assert rate == 283.0  # twice behind: like any rate it could not measure
    kept = answer.SloWindow(200.0, answer.KEPT)
    assert slo.next_rate([behind, kept], 400.0)[0] == 400.0  # the retry kept: on up


def test_below_a_rate_too_quiet_to_measure_the_search_tries_halfway_up() -> None:
    """Missed at half the capacity, then not measurable at a quarter (its windows held too few
    of the service's collections): a rate halfway up runs more of them into its window."""
    outcome = {273.0: answer.MISSED, 136.0: answer.NOT_MEASURED}
    windows, ended = search(546.0, lambda rate: outcome.get(rate, answer.KEPT))
    assert [w.rate for w in windows][:3] == [273.0, 136.0, 193.0]
    b = answer.bracket(windows)
    assert b.stable and b.low is not None and 193.0 <= b.low < 273.0, (windows, ended)
