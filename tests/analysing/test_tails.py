"""Which percentiles a window can hold (``analysing.tails``): the two rules and their words."""

from __future__ import annotations

import pytest

from chatbench.analysing import tails
from chatbench.configuration.windows import refusal, samples_needed
from chatbench.storing.record import PauseRecord


@pytest.mark.parametrize(("q", "need"), [(50, 20), (95, 200), (99, 1000), (99.9, 10_000)])
def test_a_percentile_needs_ten_requests_beyond_it(q: float, need: int) -> None:
    assert samples_needed(q) == need


def test_too_few_requests_is_not_measured_in_words() -> None:
    window = tails.WindowFacts(requests=3_400, span_s=8.5, full_collections=4, full_interval_s=2.0)
    assert tails.holds(99, window).ok
    held = tails.holds(99.9, window)
    assert not held.ok
    assert held.not_measured == "p99.9 not measured: 3,400 requests in a window, 10,000 needed"


def test_a_window_shorter_than_three_pause_intervals_cannot_hold_a_tail() -> None:
    short = tails.WindowFacts(requests=5_000, span_s=2.5, full_collections=2, full_interval_s=1.7)
    held = tails.holds(99, short)
    assert not held.ok
    assert held.reason == "2.5 s windows, full collections every 1.7 s (3 intervals need 5.1 s)"
    assert tails.holds(99, tails.WindowFacts(5_000, 5.1, 3, 1.7)).ok


def test_a_window_that_shows_no_interval_cannot_vouch_for_its_tail() -> None:
    """One collection (or none) in a window: the cycle is longer than the window shows."""
    one = tails.WindowFacts(requests=5_000, span_s=4.0, full_collections=1, full_interval_s=None)
    assert "held 1 full collection:" in tails.holds(99, one).reason
    none = tails.WindowFacts(5_000, 4.0, 0, None)
    assert not tails.holds(99, none).ok
    # …unless the service ran no full collection at all in its life under load.
    quiet = tails.WindowFacts(5_000, 4.0, 0, None, quiet_s=40.0)
    assert tails.holds(99, quiet).ok


def test_a_service_without_the_hook_is_judged_on_requests_and_says_so() -> None:
    unrecorded = tails.WindowFacts(requests=5_000, span_s=2.0, recorded=False)
    held = tails.holds(99, unrecorded)
    assert held.ok and not held.span_checked
    flags, verdict = tails.holds_in(99, [unrecorded])
    assert flags == [True] and not verdict.span_checked


def test_a_set_of_windows_holds_when_one_does_and_says_why_when_none_does() -> None:
    good = tails.WindowFacts(5_000, 9.0, 5, 2.0)
    short = tails.WindowFacts(5_000, 4.0, 2, 2.0)
    flags, verdict = tails.holds_in(99, [short, good])
    assert flags == [False, True] and verdict.ok
    flags, verdict = tails.holds_in(99.9, [short, good])
    assert flags == [False, False]
    assert (
        verdict.not_measured
        == "p99.9 not measured: at most 5,000 requests in a window, 10,000 needed"
    )


def test_an_objective_no_window_can_hold_is_refused_before_load() -> None:
    assert refusal(99, longest_window_s=20, highest_rate=5000) == ""
    assert "p99.999 needs 1,000,000 requests per window" in refusal(
        99.999, longest_window_s=20, highest_rate=5000
    )


def test_the_pause_clause_says_whether_collections_can_set_the_percentile() -> None:
    heavy = PauseRecord(full=3, full_total_ms=600, full_longest_ms=240, paused_share=0.029)
    light = PauseRecord(full=1, full_total_ms=30, full_longest_ms=30, paused_share=0.002)
    said = tails.pause_clause([heavy, light], 99)
    assert said.startswith("full collections of up to 240 ms (1–3 a window) paused it 1.6 % ")
    assert "more than the 1 % of requests a p99 leaves" in said
    assert "less than the 0.1 % of requests a p99.9 leaves" not in tails.pause_clause([heavy], 99.9)
    assert tails.pause_clause([light], 99).endswith("less than the 1 % of requests a p99 leaves")
    assert tails.pause_clause([PauseRecord()], 99) == "no full collection in its windows"
