"""``chatbench.analysing.stats``: one method per kind of figure, labelled by n; an interval that is not a
real 95 % one (a range of 2, none, one that cannot be computed) is never significant.

Coverage of the intervals at n = 3, 5, 10 is measured by simulation in ``test_coverage.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from chatbench.analysing import stats

# -- one group: t95-log from 3, range of 2, none for 1 ---------------------------------------


def test_two_values_are_a_range_never_a_ci() -> None:
    # The example: a "95 % CI" of [544, 567] was the range of two values.
    est = stats.interval([544.0, 567.0])
    assert est.method == stats.RANGE and (est.low, est.high) == (544.0, 567.0)
    assert not est.is_ci
    assert est.value == pytest.approx(math.sqrt(544.0 * 567.0))  # the geometric mean


def test_one_value_has_no_interval_and_none_has_no_value() -> None:
    one = stats.interval([812.0, math.nan])
    assert one.method == stats.NONE and one.value == 812.0 and one.n == 1
    assert math.isnan(one.low) and math.isnan(one.high) and not one.is_ci
    empty = stats.interval([])
    assert empty.n == 0 and math.isnan(empty.value)


def test_three_values_get_a_t_interval_on_the_logs() -> None:
    values = [100.0, 110.0, 121.0]  # logs equally spaced: geometric mean 110
    est = stats.interval(values)
    assert est.method == stats.T95_LOG and est.is_ci and est.n == 3
    logs = np.log(values)
    half = 4.302653 * np.std(logs, ddof=1) / math.sqrt(3)  # t(0.975, 2 df)
    assert (est.low, est.value, est.high) == pytest.approx(
        (math.exp(logs.mean() - half), 110.0, math.exp(logs.mean() + half)), rel=1e-6
    )


def test_a_group_with_a_zero_uses_the_raw_values_and_equal_values_are_exact() -> None:
    est = stats.interval([0.0, 0.0, 0.03])
    assert est.method == stats.T95 and est.value == pytest.approx(0.01) and est.low < 0 < est.high
    same = stats.interval([250.0] * 4)
    assert (same.low, same.value, same.high) == (250.0, 250.0, 250.0) and same.is_ci


def test_legend_names_a_ci_only_where_there_is_one() -> None:
    assert "95 % CI" in stats.legend([stats.T95_LOG, stats.RANGE])
    assert "95 % CI" not in stats.legend([stats.RANGE, stats.NONE])
    assert "range of 2" in stats.legend([stats.RANGE])


# -- ratios of two independent groups: Welch's t on the logs --------------------------------


def test_ratio_of_2_vs_2_is_a_range_and_never_significant() -> None:
    # Two values each, a 2× difference without overlap: still only a range, not judged.
    ratio, p = stats.ratio_interval([200.0, 201.0], [100.0, 101.0])
    assert ratio.method == stats.RANGE and not ratio.is_ci and p == 1.0
    assert (ratio.low, ratio.high) == pytest.approx((200 / 101, 201 / 100))
    assert not stats.is_significant(ratio, p)
    _, _, verdict = stats.compare_values([100.0, 101.0], [200.0, 201.0], metric="p95")
    assert verdict is stats.Verdict.NOT_JUDGED
    # 2 against many is judged by the smaller side.
    _, _, verdict = stats.compare_values([100.0, 101.0], [200.0] * 6, metric="p95")
    assert verdict is stats.Verdict.NOT_JUDGED


def test_ratio_with_one_value_has_no_interval() -> None:
    ratio, p = stats.ratio_interval([90.0], [100.0, 101.0, 99.0])
    assert ratio.method == stats.NONE and ratio.value == pytest.approx(0.9, rel=1e-3)
    assert math.isnan(ratio.low) and p == 1.0


def test_ratio_from_three_a_side_is_welch_on_the_logs() -> None:
    a, b = [100.0, 104.0, 97.0], [121.0, 117.0, 125.0]
    ratio, p = stats.ratio_interval(b, a)
    assert ratio.method == stats.WELCH_T_LOG and ratio.is_ci
    assert ratio.value == pytest.approx(np.exp(np.mean(np.log(b)) - np.mean(np.log(a))))
    assert 1.0 < ratio.low < ratio.value < ratio.high and p < 0.01
    _, _, verdict = stats.compare_values(a, b, metric="p95")
    assert verdict is stats.Verdict.SLOWER
    _, _, verdict = stats.compare_values(a, b, metric="rps")
    assert verdict is stats.Verdict.FASTER
    _, _, verdict = stats.compare_values(a, b, metric="rps", min_effect=0.5)
    assert verdict is stats.Verdict.NO_CHANGE  # real, but smaller than the 50 % asked for


def test_welch_core_is_scipys_welch_test_on_the_logs() -> None:
    from scipy.stats import ttest_ind

    rng = np.random.default_rng(3)
    num, den = rng.lognormal(0.1, 0.2, (50, 4)), rng.lognormal(0.0, 0.05, (50, 6))
    ratio, low, high, p = stats.welch_log_ratio(num, den)
    ref = ttest_ind(np.log(num), np.log(den), equal_var=False, axis=-1)
    ci = ref.confidence_interval(0.95)
    assert np.allclose(p, ref.pvalue) and np.allclose(np.log(low), ci.low)
    assert np.allclose(np.log(high), ci.high)
    assert np.allclose(ratio, np.exp(np.log(num).mean(-1) - np.log(den).mean(-1)))


def test_a_value_without_a_logarithm_is_never_significant() -> None:
    ref, cand = [0.0, 0.0, 5.0, 5.0], [10.0, 11.0, 12.0, 13.0]
    ratio, p = stats.ratio_interval(cand, ref)
    assert ratio.method == stats.NONE and ratio.value == pytest.approx(4.6)
    assert math.isnan(ratio.low) and not stats.is_significant(ratio, p)
    _, _, verdict = stats.compare_values(ref, cand, metric="p95")
    assert verdict is stats.Verdict.NOT_JUDGED


def test_nan_bounds_or_too_few_values_are_never_significant() -> None:
    for ratio in (
        stats.Estimate(2.0, math.nan, math.nan, 5, stats.WELCH_T_LOG),
        stats.Estimate(2.0, 1.5, math.nan, 5, stats.WELCH_T_LOG),
        stats.Estimate(2.0, 1.5, math.inf, 5, stats.WELCH_T_LOG),
        stats.Estimate(2.0, 1.5, 2.5, 2, stats.WELCH_T_LOG),  # n = 2
        stats.Estimate(2.0, 1.5, 2.5, 5, stats.RANGE),
    ):
        assert not stats.is_significant(ratio, 0.001), ratio
        assert stats.verdict(ratio, 0.001, metric="p95") is stats.Verdict.NOT_JUDGED
    real = stats.Estimate(2.0, 1.5, 2.5, 5, stats.WELCH_T_LOG)
    assert stats.is_significant(real, 0.001)
    assert not stats.is_significant(real, 0.2)  # e.g. a family-adjusted p


# -- paired (duet) ratios and the family-wise correction -------------------------------------


def test_paired_ratio_sees_a_steady_drop_through_large_swings() -> None:
    machine = np.array([1.0, 1.4, 0.7, 1.2])  # the machine's speed in each repetition
    base = 500 * machine
    head = base * 0.9 * np.array([1.01, 0.99, 1.005, 0.995])
    ratio, p = stats.paired_ratio(base, head)
    assert ratio.method == stats.PAIRED_T_LOG
    assert ratio.value == pytest.approx(0.9, abs=0.005)
    assert ratio.low < ratio.value < ratio.high < 1.0
    assert p < 0.001
    # The same values unpaired: the swings swamp the drop.
    unpaired, p_welch, verdict = stats.compare_values(base, head, metric="rps")
    assert verdict is stats.Verdict.NO_CHANGE and p_welch > 0.05


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
    kept, _ = stats.paired_ratio([100.0, 0.0, 200.0, 400.0, math.nan], [90.0, 5.0, 180.0, 1.0, 1])
    assert kept.n == 3
    exact, p = stats.paired_ratio([100.0, 200.0, 400.0], [90.0, 180.0, 360.0])
    assert (exact.low, exact.value, exact.high) == pytest.approx((0.9, 0.9, 0.9)) and p == 0.0
    # Two pairs: the range of their ratios, never significant, however far from 1.
    two, p = stats.paired_ratio([100.0, 200.0], [50.0, 110.0])
    assert two.method == stats.RANGE and (two.low, two.high) == pytest.approx((0.5, 0.55))
    assert p == 1.0 and not stats.is_significant(two, p)


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
