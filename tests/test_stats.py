"""``chatbench.stats``: an interval that cannot be computed must never read as significant."""

from __future__ import annotations

import math

import numpy as np

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
