"""Do two load generators agree (``analysing.toolagreement``): the verdicts and the widening."""

from __future__ import annotations

import math

from chatbench.analysing import stats, toolagreement


def agreement(value: float, low: float, high: float, n: int = 3, method: str = stats.PAIRED_T_LOG):
    return toolagreement.ToolAgreement(
        "fastapi", "equal load 70 %", 406.0, "p99", stats.Estimate(value, low, high, n, method), n
    )


def test_agree_needs_the_whole_interval_within_fifteen_percent() -> None:
    assert agreement(1.03, 0.95, 1.12).verdict == toolagreement.AGREE
    assert agreement(1.03, 0.80, 1.30).verdict == toolagreement.UNDECIDED
    assert agreement(1.40, 1.20, 1.60).verdict == toolagreement.DIFFER
    assert agreement(0.60, 0.50, 0.70).verdict == toolagreement.DIFFER
    # Two pairs give a range, never a verdict of agreement or difference.
    assert agreement(1.01, 0.99, 1.03, n=2, method=stats.RANGE).verdict == toolagreement.UNDECIDED
    assert agreement(math.nan, math.nan, math.nan, n=0).verdict == toolagreement.NOT_MEASURED
    assert agreement(1.03, 0.95, 1.12).text() == "p99 1.03× [0.95–1.12]: agree"


def test_a_difference_widens_the_interval_to_the_independent_reading() -> None:
    est = stats.Estimate(12.0, 10.0, 14.0, 3, stats.T95_LOG)
    wide = toolagreement.widened(est, [9.0, 17.5])
    assert (wide.value, wide.low, wide.high, wide.method) == (12.0, 9.0, 17.5, stats.T95_LOG)
    assert toolagreement.widened(est, []) == est
    found = toolagreement.differing([agreement(1.40, 1.20, 1.60), agreement(1.0, 0.95, 1.05)])
    assert list(found) == [("fastapi", 406.0, "p99")]
