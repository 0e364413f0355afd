"""Which percentiles a window can hold (``analysing.tails``): the two rules and their words."""

from __future__ import annotations

import pytest

from chatbench.analysing import openload, tails
from chatbench.configuration.windows import refusal, samples_needed
from chatbench.storing.record import PauseRecord


@pytest.mark.parametrize(("q", "need"), [(50, 20), (95, 200), (99, 1000), (99.9, 10_000)])
def test_a_percentile_needs_ten_requests_beyond_it(q: float, need: int) -> None:
    assert samples_needed(q) == need


def test_too_few_requests_is_not_measured_in_words() -> None:
    window = tails.WindowFacts(
        requests=3_400, span_s=8.5, full_collections=4, life_paused_share=0.01
    )
    assert tails.holds(99, window).ok
    held = tails.holds(99.9, window)
    assert not held.ok
    assert held.not_measured == "p99.9 not measured: 3,400 requests in a window, 10,000 needed"


def test_a_tail_window_must_hold_three_of_the_services_full_collections() -> None:
    """Pauses 1.5 % of the time can set a p99 (2 × 1.5 % ≥ 1 %): its window must hold three
    collections, any process counting; two in 20 s say the cycle is longer than the window."""
    short = tails.WindowFacts(5_000, 20.0, full_collections=2, life_paused_share=0.015)
    held = tails.holds(99, short)
    assert not held.ok
    assert held.reason == (
        "20.0 s windows held 2 full collections, 3 needed to span the service's pause cycle"
    )
    assert tails.holds(99, tails.WindowFacts(5_000, 9.0, 3, life_paused_share=0.015)).ok
    one = tails.WindowFacts(5_000, 4.0, 1, life_paused_share=0.015)
    assert "held 1 full collection," in tails.holds(99, one).reason


def test_collections_rarer_than_a_long_window_do_not_leave_it_unmeasured() -> None:
    """Pauses of up to 85 ms that could set a p99 over the service's life (1.5 %), but only 0–1
    of them in a window: a 60 s window holds the p99, since even three such collections would
    pause it 2 × 3 × 85 ms / 60 s = 0.85 % of the time, under the 1 % a p99 leaves; a 30 s window
    (1.7 %) does not, nor a 60 s window for a p99.9, nor a window whose record predates it."""

    def window(span_s: float, longest: float | None = 85.0) -> tails.WindowFacts:
        return tails.WindowFacts(
            60_000, span_s, full_collections=1, life_paused_share=0.015, life_longest_ms=longest
        )

    assert tails.holds(99, window(60.0)).ok
    held = tails.holds(99, window(30.0))
    assert not held.ok and "held 1 full collection, 3 needed" in held.reason
    assert not tails.holds(99.9, window(60.0)).ok
    assert not tails.holds(99, window(60.0, longest=None)).ok


def test_a_percentile_pauses_cannot_set_needs_no_span() -> None:
    """The same windows, the same pauses (1.5 % of the time): a p95 rests on requests no
    pause touched (2 × 1.5 % < 5 %) and a p50 on still fewer; before the share is known, the
    90th percentile up asks for the span."""
    short = tails.WindowFacts(5_000, 20.0, full_collections=0, life_paused_share=0.015)
    assert tails.holds(95, short).ok and tails.holds(50, short).ok
    assert not tails.holds(99, short).ok
    unknown = tails.WindowFacts(5_000, 20.0, full_collections=0)
    assert not tails.holds(95, unknown).ok and tails.holds(50, unknown).ok


def test_a_service_that_never_paused_holds_its_tail() -> None:
    quiet = tails.WindowFacts(5_000, 4.0, 0, quiet_s=40.0, life_paused_share=0.0)
    assert tails.holds(99, quiet).ok
    never_shown = tails.WindowFacts(5_000, 4.0, 0, quiet_s=40.0)
    assert tails.holds(99, never_shown).ok


def test_a_service_without_the_hook_is_judged_on_requests_and_says_so() -> None:
    unrecorded = tails.WindowFacts(requests=5_000, span_s=2.0, recorded=False)
    held = tails.holds(99, unrecorded)
    assert held.ok and not held.span_checked
    flags, verdict = tails.holds_in(99, [unrecorded])
    assert flags == [True] and not verdict.span_checked
    assert tails.holds(50, unrecorded).span_checked  # a median never asks for the span


def test_a_set_of_windows_holds_when_one_does_and_says_why_when_none_does() -> None:
    good = tails.WindowFacts(5_000, 9.0, 5, life_paused_share=0.02)
    short = tails.WindowFacts(5_000, 4.0, 2, life_paused_share=0.02)
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
    assert said.endswith("; twice that, with the queue behind them, reaches the 1 % a p99 leaves")
    assert "less than" not in tails.pause_clause([heavy], 99.9)
    assert tails.pause_clause([light], 99).endswith(
        "paused it 0.2 % of the time; twice that stays under the 1 % a p99 leaves"
    )
    # 0.7 % of the time, reached twice over (1.4 %), can set a p99: the rule windows are held to.
    edge = PauseRecord(full=3, full_total_ms=500, full_longest_ms=240, paused_share=0.007)
    assert "reaches the 1 % a p99 leaves" in tails.pause_clause([edge], 99)
    assert tails.pause_clause([PauseRecord()], 99) == "no full collection in its windows"


def test_variants_short_of_requests_for_a_percentile_are_said_once_with_the_most_seen() -> None:
    """Every variant short of the requests a p99 needs: one clause, the most any window held
    (read from the verdicts' counts, not their sentences); different reasons stay one per
    variant."""

    def variant(name: str, requests: list[int], span_s: float = 5.0) -> openload.VariantLatency:
        windows = [tails.WindowFacts(n, span_s, full_collections=1, life_paused_share=0.02)
                   for n in requests]  # fmt: skip
        _, verdict = tails.holds_in(99, windows)
        return openload.VariantLatency(name, 3, 0, {}, {}, 100.0, not_measured={"p99": verdict})

    short = [variant("django", [640, 872, 700]), variant("fastapi", [973, 910, 955])]
    assert (short[1].not_measured["p99"].seen, short[1].not_measured["p99"].needed) == (973, 1000)
    assert openload._not_measured(tuple(short)) == [
        "p99 not measured: at most 973 requests in a window, 1,000 needed"
    ]
    mixed = [short[0], variant("fastapi", [5_000, 5_200], span_s=5.0)]
    said = openload._not_measured(tuple(mixed))
    assert said[0] == "p99 not measured for django: at most 872 requests in a window, 1,000 needed"
    assert said[1].startswith("p99 not measured for fastapi: 5.0 s windows held 1 full")
    # One variant short, the other measured: the clause names which.
    only_one = (short[0], openload.VariantLatency("fastapi", 3, 0, {}, {}, 100.0))
    assert openload.not_measured_clauses(only_one, "p99") == [
        "p99 not measured for django: at most 872 requests in a window, 1,000 needed"
    ]
