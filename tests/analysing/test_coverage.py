"""Seeded simulation: does every "95 %" interval chatbench prints cover the truth 95 % of the
time at the n it gets, and does ``compare`` call "significant" under no change only about one
time in twenty?

Repetitions are drawn from lognormal distributions (multiplicative noise, the usual shape of
throughput and latency across repetitions) with a per-repetition CV of 3, 10 and 20 %, at
n = 3, 5 and 10. Each case runs ``DRAWS`` independent "runs" at once through the vectorised
cores that ``stats.interval``, ``stats.ratio_interval`` and ``stats.paired_ratio`` call (the
first draws are checked against those scalar functions too, so the cores are the real code).
A correct 95 % interval covers the truth in 95 % ± 0.35 % (one standard error at 4,000 draws)
of them; the tests ask for 92–98 %.

Run ``python -m tests.analysing.test_coverage`` to print the measured table.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from chatbench.analysing import compare, stats

SEED = 20261201
DRAWS = 4000
COMPARE_DRAWS = 2000  # compare_samples is called once per draw (not vectorised)
CVS = (0.03, 0.10, 0.20)
NS = (3, 5, 10)
CASES = [(cv, n) for cv in CVS for n in NS]
MEDIAN = 500.0  # req/s or ms: the scale does not matter on logs
TRUE_RATIO = 1.15  # independent groups: B's median over A's
PAIRED_RATIO = 0.9  # duet: head over base, through a machine whose speed swings ±15 %


def _sigma(cv: float) -> float:
    """The log-scale σ of a lognormal whose coefficient of variation is ``cv``."""
    return math.sqrt(math.log1p(cv * cv))


def _draw(rng: np.random.Generator, cv: float, shape: tuple[int, int], median: float) -> np.ndarray:
    return median * rng.lognormal(0.0, _sigma(cv), shape)


def _covered(low: np.ndarray, high: np.ndarray, truth: float) -> float:
    return float(np.mean((low <= truth) & (truth <= high)))


def one_group(cv: float, n: int, seed: int = SEED) -> float:
    """Coverage of the summary's interval (``t95-log``) of the true median."""
    x = _draw(np.random.default_rng([seed, n, int(cv * 100)]), cv, (DRAWS, n), MEDIAN)
    _, low, high = stats.log_t_interval(x)
    for k in range(20):  # the scalar function the summary calls is this core
        est = stats.interval(x[k])
        assert (est.low, est.high) == pytest.approx((low[k], high[k]), rel=1e-12)
        assert est.method == stats.T95_LOG
    return _covered(low, high, MEDIAN)


def independent_ratio(cv: float, n: int, seed: int = SEED) -> float:
    """Coverage of compare's / the suite answers' ratio interval (``welch-t-log``)."""
    rng = np.random.default_rng([seed, n, int(cv * 100), 1])
    a = _draw(rng, cv, (DRAWS, n), MEDIAN)
    b = _draw(rng, cv, (DRAWS, n), MEDIAN * TRUE_RATIO)
    _, low, high, _ = stats.welch_log_ratio(b, a)
    for k in range(20):
        est, _ = stats.ratio_interval(b[k], a[k])
        assert (est.low, est.high) == pytest.approx((low[k], high[k]), rel=1e-12)
        assert est.method == stats.WELCH_T_LOG
    return _covered(low, high, TRUE_RATIO)


def paired(cv: float, n: int, seed: int = SEED) -> float:
    """Coverage of the duet check's paired ratio (``paired-t-log``)."""
    rng = np.random.default_rng([seed, n, int(cv * 100), 2])
    machine = rng.lognormal(0.0, _sigma(0.15), (DRAWS, n))  # shared by both sides of a pair
    base = machine * _draw(rng, cv, (DRAWS, n), MEDIAN)
    head = machine * _draw(rng, cv, (DRAWS, n), MEDIAN * PAIRED_RATIO)
    _, low, high, _ = stats.paired_log_ratio(base, head)
    for k in range(20):
        est, _ = stats.paired_ratio(base[k], head[k])
        assert (est.low, est.high) == pytest.approx((low[k], high[k]), rel=1e-12)
        assert est.method == stats.PAIRED_T_LOG
    return _covered(low, high, PAIRED_RATIO)


@functools.cache  # the tests and main() ask for some rates twice
def false_significant(cv: float, n: int = 5, *, threshold: float, seed: int = SEED) -> float:
    """How often ``compare.compare_samples`` (what ``chatbench compare`` decides with) calls an
    unchanged metric significantly faster or slower."""
    rng = np.random.default_rng([seed, n, int(cv * 100), 3])
    a = _draw(rng, cv, (COMPARE_DRAWS, n), MEDIAN)
    b = _draw(rng, cv, (COMPARE_DRAWS, n), MEDIAN)
    called = 0
    for xa, xb in zip(a, b, strict=True):
        *_, verdict = compare.compare_samples(xa, xb, metric="rps", threshold=threshold)
        called += verdict in (stats.Verdict.FASTER, stats.Verdict.SLOWER)
    return called / COMPARE_DRAWS


@pytest.mark.parametrize(("cv", "n"), CASES)
def test_one_group_interval_covers_the_median_95_percent(cv: float, n: int) -> None:
    assert 0.92 <= one_group(cv, n) <= 0.98


@pytest.mark.parametrize(("cv", "n"), CASES)
def test_independent_ratio_interval_covers_the_true_ratio_95_percent(cv: float, n: int) -> None:
    assert 0.92 <= independent_ratio(cv, n) <= 0.98


@pytest.mark.parametrize(("cv", "n"), CASES)
def test_paired_ratio_interval_covers_the_true_ratio_95_percent(cv: float, n: int) -> None:
    assert 0.92 <= paired(cv, n) <= 0.98


@pytest.mark.parametrize("cv", CVS)
def test_compare_calls_no_change_significant_about_one_time_in_twenty(cv: float) -> None:
    # The significance rule alone (threshold 0): Welch's test at alpha = 0.05.
    assert 0.03 <= false_significant(cv, threshold=0.0) <= 0.07


def test_the_default_threshold_only_lowers_the_false_significant_rate() -> None:
    rate = false_significant(0.10, threshold=compare.DEFAULT_THRESHOLD)
    assert rate <= false_significant(0.10, threshold=0.0) and rate <= 0.07


def test_a_range_of_two_never_covers_its_claim_and_is_never_significant() -> None:
    """What the old "95 % CI" of 2 values was: the range, covering the median half the time.
    It is labelled a range, and compare never calls 2 vs 2 significant, however far apart."""
    x = _draw(np.random.default_rng(SEED), 0.10, (DRAWS, 2), MEDIAN)
    assert _covered(x.min(axis=1), x.max(axis=1), MEDIAN) < 0.6  # nowhere near 95 %
    assert {stats.interval(row).method for row in x[:50]} == {stats.RANGE}
    far = [compare.compare_samples(np.array([100.0, 101.0]), np.array(b), metric="rps")[-1]
           for b in ([50.0, 51.0], [200.0, 202.0], [100.0, 300.0])]  # fmt: skip
    assert set(far) == {stats.Verdict.NOT_JUDGED}
    assert stats.interval([100.0]).method == stats.NONE


def main() -> None:
    """Print every measured figure (the same seeds and draws as the tests)."""
    print(f"coverage of the nominal 95 % intervals, {DRAWS} draws each")
    print("cv    n   one group   ratio (Welch)   paired")
    for cv, n in CASES:
        print(
            f"{cv:4.0%} {n:3d}   {one_group(cv, n):8.1%}   {independent_ratio(cv, n):12.1%}"
            f"   {paired(cv, n):6.1%}"
        )
    print(f"compare, no change, n = 5, {COMPARE_DRAWS} draws: false 'significant' rate")
    for cv in CVS:
        zero = false_significant(cv, threshold=0.0)
        default = false_significant(cv, threshold=compare.DEFAULT_THRESHOLD)
        print(f"cv {cv:4.0%}: threshold 0: {zero:.1%}; default 5 % threshold: {default:.1%}")


if __name__ == "__main__":
    main()
