"""``chatbench.stats``: an interval that cannot be computed must never read as significant."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chatbench import stats


def _inverse_median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 1.0 / np.median(x, axis=axis)


def test_bootstrap_ci_without_a_finite_interval_has_nan_bounds() -> None:
    # Resamples whose median is 0 make the statistic infinite: no finite percentile interval.
    est = stats.bootstrap_ci([0.0, 0.0, 1.0, 2.0, 3.0], stat=_inverse_median)
    assert math.isfinite(est.value)
    assert math.isnan(est.low) and math.isnan(est.high)
    assert not stats.has_interval(est)


def test_ratio_ci_without_a_finite_interval_is_not_significant() -> None:
    # ratio = median(b-side candidate) / median(reference); a third of the reference's
    # resamples have median 0, so the upper bound is infinite.
    ref, cand = [0.0, 0.0, 5.0, 5.0], [10.0, 11.0, 12.0, 13.0]
    ratio = stats.ratio_ci(cand, ref)
    assert ratio.value == 4.6
    assert math.isnan(ratio.low) and math.isnan(ratio.high)
    p = stats.mann_whitney(ref, cand)
    assert p < stats.ALPHA  # the rank test alone would call it
    assert not stats.is_significant(ratio, p, 4, 4)
    _, _, verdict = stats.compare_values(ref, cand, metric="p95")
    assert verdict is stats.Verdict.NO_CHANGE


def test_nan_bounds_are_never_significant() -> None:
    for ratio in (
        stats.Estimate(2.0, math.nan, math.nan, 5),
        stats.Estimate(2.0, 1.5, math.nan, 5),
        stats.Estimate(2.0, math.nan, 2.5, 5),
        stats.Estimate(2.0, 1.5, math.inf, 5),
    ):
        assert not stats.is_significant(ratio, 0.001, 5, 5), ratio
        assert stats.verdict(ratio, 0.001, 5, 5, metric="p95") is stats.Verdict.NO_CHANGE
    assert stats.is_significant(stats.Estimate(2.0, 1.5, 2.5, 5), 0.001, 5, 5)


# -- paired (duet) ratios and the family-wise correction -------------------------------------


def test_paired_ratio_sees_a_steady_drop_through_large_swings() -> None:
    machine = np.array([1.0, 1.4, 0.7, 1.2])  # the machine's speed in each repetition
    base = 500 * machine
    head = base * 0.9 * np.array([1.01, 0.99, 1.005, 0.995])
    ratio, p = stats.paired_ratio(base, head)
    assert ratio.value == pytest.approx(0.9, abs=0.005)
    assert ratio.low < ratio.value < ratio.high < 1.0
    assert p < 0.001
    # The same values unpaired: the swings swamp the drop.
    unpaired, p_mw, verdict = stats.compare_values(base, head, metric="rps")
    assert verdict is stats.Verdict.NO_CHANGE and p_mw > 0.05


def test_paired_ratio_of_noise_alone_is_not_significant() -> None:
    base = [500.0, 650.0, 380.0, 610.0, 450.0]
    head = [b * f for b, f in zip(base, [1.02, 0.97, 1.01, 0.99, 1.0], strict=True)]
    ratio, p = stats.paired_ratio(base, head)
    assert ratio.low < 1.0 < ratio.high
    assert p > 0.5


def test_paired_ratio_edge_cases() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_ratio([1.0, 2.0], [1.0])
    one, p = stats.paired_ratio([100.0], [90.0])
    assert one.value == pytest.approx(0.9) and math.isnan(one.low) and p == 1.0
    # A pair with a zero or NaN cannot be logged: it is left out, not allowed to poison.
    kept, _ = stats.paired_ratio([100.0, 0.0, 200.0, math.nan], [90.0, 5.0, 180.0, 1.0])
    assert kept.n == 2
    exact, p = stats.paired_ratio([100.0, 200.0, 400.0], [90.0, 180.0, 360.0])
    assert (exact.low, exact.value, exact.high) == pytest.approx((0.9, 0.9, 0.9)) and p == 0.0
    same, p = stats.paired_ratio([100.0, 200.0], [100.0, 200.0])
    assert same.value == 1.0 and p == 1.0


def test_holm_adjusts_step_down_and_keeps_order() -> None:
    # m = 4: sorted 0.01, 0.03, 0.04, 0.2 → 0.04, 0.09, max(0.09, 0.08), 0.2.
    assert stats.holm([0.04, 0.01, 0.2, 0.03]) == pytest.approx([0.09, 0.04, 0.2, 0.09])
    assert stats.holm([]) == []
    assert stats.holm([0.5, 0.9]) == [1.0, 1.0]
    assert stats.holm([math.nan, 0.001]) == pytest.approx([1.0, 0.002])


def test_holm_keeps_the_chance_of_any_false_alarm_at_alpha() -> None:
    """Nine null t-tests per 'check' (like a check's nine verdicts): unadjusted, a third of
    the checks raise at least one p < 0.05; Holm-adjusted, at most about one in twenty."""
    rng = np.random.default_rng(7)
    checks = 500  # seeded: the same draws every time
    raw_alarm = adjusted_alarm = 0
    for _ in range(checks):
        ps = [stats.paired_ratio(np.ones(6), np.exp(rng.normal(0, 0.05, 6)))[1] for _ in range(9)]
        raw_alarm += min(ps) < 0.05
        adjusted_alarm += min(stats.holm(ps)) < 0.05
    assert raw_alarm / checks > 0.3
    assert adjusted_alarm / checks < 0.07
