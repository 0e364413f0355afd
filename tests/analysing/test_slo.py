"""Capacity under a latency objective, answered (``analysing.slo``): the bracket, the verdicts,
the ratio, in the words the answer prints."""

from __future__ import annotations

import math

from chatbench.analysing import slo
from chatbench.storing.record import PauseRecord

KEPT, MISSED, NOT = slo.KEPT, slo.MISSED, slo.NOT_MEASURED


def w(rate: float, outcome: str, ms: float | None = None, source: str = "search") -> slo.SloWindow:
    return slo.SloWindow(rate, outcome, ms, source)


def variant(
    windows: list[slo.SloWindow], capacity: float = 1000.0, name: str = "fastapi"
) -> slo.VariantSlo:
    return slo.VariantSlo(name, capacity, tuple(windows), 50.0, 99.0)


def test_the_bracket_is_the_highest_rate_kept_everywhere_and_the_next_missed_everywhere() -> None:
    b = slo.bracket([w(500, KEPT), w(1000, MISSED), w(707, MISSED), w(595, KEPT), w(648, MISSED)])
    assert (b.low, b.high, b.swing) == (595, 648, None) and b.stable
    # Mixed outcomes at a rate: it is neither bound (the edge lies about there).
    b = slo.bracket([w(500, KEPT), w(560, KEPT), w(560, MISSED), w(620, MISSED)])
    assert (b.low, b.high) == (500, 620) and b.stable
    # A window that could not hold the percentile is no verdict.
    b = slo.bracket([w(500, KEPT), w(560, NOT), w(620, MISSED)])
    assert (b.low, b.high, b.unmeasured) == (500, 620, (560,))


def test_a_rate_missed_below_a_kept_one_is_a_swing_and_no_answer() -> None:
    v = variant([w(494, MISSED), w(563, KEPT), w(1078, MISSED)])
    assert v.bracket.swing == (494, 563) and not v.stable
    assert v.why_not == "no stable answer: p99 missed at 494 req/s but kept at 563"
    ref = variant([w(400, KEPT), w(460, MISSED)], name="django")
    assert slo.ratio(v, ref) is None
    assert "fastapi: no stable answer" in slo.variant_sentence(v)


def test_confirmed_needs_two_windows_kept_at_the_rate_and_two_missed_ten_to_fifteen_percent_above() -> (
    None
):
    search = [w(500, KEPT), w(1000, MISSED), w(707, MISSED), w(595, KEPT), w(648, MISSED)]
    assert not variant(search).confirmed  # one window at 595 so far
    # The search's own high bound when it lies 10–15 % above, else 12.5 % above.
    assert slo.above_rate(595, 670) == 670
    assert slo.above_rate(595, 648) == 669  # 648 is only 8.9 % above
    confirm = [w(595, KEPT, 31.0, "confirm"), w(669, MISSED, 70.0, "confirm"),
               w(595, KEPT, 33.0, "confirm"), w(669, MISSED, 75.0, "confirm")]  # fmt: skip
    v = variant(search + confirm)
    assert v.stable and v.confirmed and v.bracket.low == 595 and v.bracket.high == 648
    said = slo.variant_sentence(v)
    assert said.startswith("fastapi holds 595 req/s (between 595 and 648; kept in 3 of 3 windows")
    assert "missed at 669 (+12 %) in 2 of 2 (70.0 ms, 75.0 ms)): confirmed" in said
    # Kept above instead: the rate is not confirmed, and the bracket moves up.
    kept_above = variant(search + [w(595, KEPT), w(669, KEPT), w(595, KEPT), w(669, MISSED)])
    assert not kept_above.confirmed


def test_an_interval_never_has_zero_width_and_never_holds_a_rate_missed_everywhere() -> None:
    b = slo.bracket([w(500, KEPT), w(500, KEPT), w(540, MISSED), w(540, MISSED)])
    assert b.low == 500 and b.high == 540 and b.high > b.low


def test_a_variant_that_keeps_the_objective_at_its_capacity_says_it_is_the_ceiling() -> None:
    v = variant([w(290, KEPT), w(580, KEPT)], capacity=580.0, name="django")
    assert v.at_ceiling and v.stable and not v.confirmed
    said = slo.variant_sentence(v)
    assert said.startswith(
        "django holds p99 ≤ 50 ms up to its whole capacity, 580 req/s (the search's ceiling"
    )
    other = variant([w(500, KEPT), w(1000, MISSED), w(560, MISSED)])
    r = slo.ratio(other, v)
    assert r is not None and math.isclose(r.value, 500 / 580)
    assert r.low == 0.0 and math.isclose(r.high, 560 / 580)
    assert r.text().startswith("fastapi/django 0.86× (at most 0.97")


def test_a_ratio_is_bounded_by_both_brackets_and_never_called_a_confidence_interval() -> None:
    a = variant([w(800, KEPT), w(880, MISSED)], name="fastapi")
    b = variant([w(560, KEPT), w(620, MISSED)], name="django")
    r = slo.ratio(a, b)
    assert r is not None
    assert math.isclose(r.value, 800 / 560) and math.isclose(r.low, 800 / 620)
    assert math.isclose(r.high, 880 / 560)
    assert r.text() == "fastapi/django 1.43× (between 1.29 and 1.57 from the searches' resolution)"
    assert "CI" not in r.text()


def test_a_variant_that_kept_nowhere_or_could_not_be_measured_says_which() -> None:
    none_kept = variant([w(500, MISSED), w(250, MISSED), w(125, MISSED)])
    assert none_kept.why_not == (
        "kept the objective at none of the rates tried (missed at 125, 250, 500 req/s)"
    )
    partly = variant(
        [w(273, MISSED), slo.SloWindow(136, NOT, 16.7, "search", "60.0 s windows held 2")]
    )
    assert partly.why_not == (
        "kept the objective at none of the rates tried (missed at 273 req/s; not measured at "
        "136 req/s (60.0 s windows held 2))"
    )
    unmeasurable = slo.VariantSlo(
        "fastapi", 1000.0,
        (slo.SloWindow(500, NOT, 12.0, "search", "4.0 s windows, full collections every 2.0 s (3 intervals need 6.0 s)"),),
        50.0, 99.0,
    )  # fmt: skip
    assert unmeasurable.why_not.startswith("not measured: 4.0 s windows")


def test_the_sentence_names_what_the_pauses_were_at_the_edge() -> None:
    pauses = PauseRecord(full=4, full_total_ms=800.0, full_longest_ms=240.0, paused_share=0.029)
    windows = [slo.SloWindow(560, KEPT, 30.0, "search", "", pauses),
               slo.SloWindow(620, MISSED, 90.0, "search", "", pauses)]  # fmt: skip
    said = slo.variant_sentence(variant(windows, name="django"))
    assert "full collections of up to 240 ms (4 a window) paused it 2.9 % of the time" in said
    assert "twice that, with the queue behind them, reaches the 1 % a p99 leaves" in said
