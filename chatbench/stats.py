"""Statistics: bootstrap confidence intervals, significance and the regression verdict.

Pure functions on plain sequences of numbers (one value per repetition); nothing here reads
files, knows about runs or draws. Every random draw comes from a generator seeded with
``DEFAULT_SEED`` so the same data always gives the same intervals.

The verdict rule (``verdict``), used by ``compare`` and the CI gate alike:

* ``ratio`` is ``median(b) / median(a)`` (b = the new run, a = the baseline) with a 95 %
  bootstrap confidence interval, each group resampled independently (``ratio_ci``).
* A change is **significant** when
  1. both groups have at least 2 values (one value has no spread to judge against), and
  2. the ratio's confidence interval excludes 1.0, and
  3. when both groups have at least 4 values, the two-sided Mann-Whitney U p-value is below
     ``alpha`` (0.05) as well.  With 3 vs 3 values the smallest possible exact p-value is 0.1,
     so the test could never agree; there the bootstrap interval alone decides, and with so
     few values it amounts to "the two groups' ranges do not overlap", which is conservative.
  4. the relative change ``|ratio - 1|`` is at least ``min_effect`` (default 0: any change
     the data supports).
  An interval that could not be computed (NaN bounds, see ``ratio_ci``) is never significant.
* The direction comes from the metric: higher is better for throughput (``rps``,
  ``req_per_cpu_s``), lower is better for latencies and everything else.
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sps

DEFAULT_SEED = 20240613
DEFAULT_RESAMPLES = 9999
DEFAULT_CONFIDENCE = 0.95
ALPHA = 0.05
MW_MIN_N = 4  # below this, an exact two-sided Mann-Whitney p can never reach 0.05 (3v3 → 0.1)

# Metrics where a larger number is the better outcome; every other metric is "lower is better".
HIGHER_IS_BETTER = frozenset({"rps", "req_per_cpu_s", "requests"})

Statistic = Callable[..., object]


class Verdict(enum.StrEnum):
    FASTER = "faster"
    SLOWER = "slower"
    NO_CHANGE = "no significant change"


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval and the number of values behind it."""

    value: float
    low: float
    high: float
    n: int

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def relative_width(self) -> float:
        """CI width as a fraction of the value (nan when the value is 0 or undefined)."""
        if not math.isfinite(self.value) or self.value == 0:
            return math.nan
        return self.width / abs(self.value)

    def excludes(self, x: float) -> bool:
        return self.low > x or self.high < x


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def higher_is_better(metric: str) -> bool:
    return metric in HIGHER_IS_BETTER


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    stat: Statistic = np.median,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> Estimate:
    """Bootstrap percentile CI of ``stat`` (default: the median) over ``values``.

    NaNs are dropped. No values → all NaN, n=0. One value, or all values equal, → a
    degenerate interval equal to the value (scipy would warn and return NaN there).
    ``stat`` must accept ``axis=`` like the numpy reductions do. When the bootstrap cannot
    give a finite interval (some resamples' statistic is infinite or undefined), the bounds
    are NaN: "no interval", which never reads as significant (a zero-width interval at the
    point would claim certainty the data does not have).
    """
    arr = _clean(values)
    n = int(arr.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    point = float(stat(arr, axis=-1))  # type: ignore[call-overload]
    if n == 1 or np.all(arr == arr[0]):
        return Estimate(point, point, point, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = _sps.bootstrap(
                (arr,),
                stat,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method="percentile",
                vectorized=True,
                rng=np.random.default_rng(seed),
            )
        except (ValueError, FloatingPointError, ZeroDivisionError):
            return Estimate(point, math.nan, math.nan, n)
    return _interval(point, res.confidence_interval, n)


def _interval(point: float, ci, n: int) -> Estimate:
    """The bootstrap interval around ``point``; NaN bounds when it is not finite.

    NaN bounds mean "no interval": ``Estimate.excludes`` and ``is_significant`` then never
    call the change significant. (Collapsing a failed interval onto the point instead would
    make any ratio ≠ 1 look certain.)
    """
    low, high = float(ci.low), float(ci.high)
    if not (math.isfinite(point) and math.isfinite(low) and math.isfinite(high)):
        return Estimate(point, math.nan, math.nan, n)
    # A percentile interval of a median always contains it, but guard rounding anyway.
    return Estimate(point, min(low, point), max(high, point), n)


def ratio_ci(
    a_values: Sequence[float] | np.ndarray,
    b_values: Sequence[float] | np.ndarray,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> Estimate:
    """Bootstrap percentile CI of ``median(a) / median(b)``, each group resampled on its own.

    ``n`` in the result is ``min(len(a), len(b))``. An undefined ratio (empty group, or a zero
    median in b) gives NaNs; a single value against several gives the ratio with a NaN interval,
    and so does a bootstrap whose interval is not finite (e.g. some resamples of b have median
    0): the ratio with NaN bounds, never significant.
    """
    a, b = _clean(a_values), _clean(b_values)
    n = int(min(a.size, b.size))
    if a.size == 0 or b.size == 0:
        return Estimate(math.nan, math.nan, math.nan, n)
    ma, mb = float(np.median(a)), float(np.median(b))
    if mb == 0:
        return Estimate(math.nan, math.nan, math.nan, n)
    point = ma / mb
    a_const = a.size == 1 or bool(np.all(a == a[0]))
    b_const = b.size == 1 or bool(np.all(b == b[0]))
    if a_const and b_const:
        return Estimate(point, point, point, n)
    if n < 2:  # one value against several: no interval (scipy needs 2 per group)
        return Estimate(point, math.nan, math.nan, n)

    def _ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        my = np.median(y, axis=axis)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.median(x, axis=axis) / my

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = _sps.bootstrap(
                (a, b),
                _ratio,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method="percentile",
                vectorized=True,
                paired=False,
                rng=np.random.default_rng(seed),
            )
        except (ValueError, FloatingPointError, ZeroDivisionError):
            return Estimate(point, math.nan, math.nan, n)
    return _interval(point, res.confidence_interval, n)


def mann_whitney(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value; 1.0 when it is undefined (empty or all-equal data)."""
    x, y = _clean(a), _clean(b)
    if x.size == 0 or y.size == 0:
        return 1.0
    both = np.concatenate([x, y])
    if np.all(both == both[0]):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(_sps.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    return p if math.isfinite(p) else 1.0


def coefficient_of_variation(values: Sequence[float] | np.ndarray) -> float:
    """Sample standard deviation / mean; nan for fewer than 2 values or a zero mean."""
    arr = _clean(values)
    if arr.size < 2:
        return math.nan
    mean = float(np.mean(arr))
    if mean == 0:
        return math.nan
    return float(np.std(arr, ddof=1) / abs(mean))


def has_interval(estimate: Estimate) -> bool:
    """Whether ``estimate`` has a finite point and a finite confidence interval."""
    return all(math.isfinite(x) for x in (estimate.value, estimate.low, estimate.high))


def is_significant(
    ratio: Estimate,
    p_value: float,
    n_a: int,
    n_b: int,
    *,
    alpha: float = ALPHA,
    min_effect: float = 0.0,
    paired: bool = False,
) -> bool:
    """The significance half of the rule in the module docstring.

    An interval with a NaN (or otherwise non-finite) bound is no interval: not significant.
    ``paired`` (``paired_ratio``'s t-test p, maybe family-adjusted): p must be below alpha
    whatever the number of pairs.
    """
    if min(n_a, n_b) < 2 or not has_interval(ratio):
        return False
    if not ratio.excludes(1.0):
        return False
    if (paired or min(n_a, n_b) >= MW_MIN_N) and not p_value < alpha:
        return False
    return abs(ratio.value - 1.0) >= min_effect


def verdict(
    ratio: Estimate,
    p_value: float,
    n_a: int,
    n_b: int,
    *,
    metric: str,
    alpha: float = ALPHA,
    min_effect: float = 0.0,
    paired: bool = False,
) -> Verdict:
    """Faster / slower / no significant change for ``ratio = median(b) / median(a)``.

    See the module docstring for the rule. A ratio without a finite interval is never faster
    or slower; callers that distinguish "no change" from "cannot tell" (the CI gate) check
    ``has_interval`` and report it as undecided.
    """
    if not is_significant(
        ratio, p_value, n_a, n_b, alpha=alpha, min_effect=min_effect, paired=paired
    ):
        return Verdict.NO_CHANGE
    went_up = ratio.value > 1.0
    better = went_up if higher_is_better(metric) else not went_up
    return Verdict.FASTER if better else Verdict.SLOWER


def compare_values(
    a_values: Sequence[float] | np.ndarray,
    b_values: Sequence[float] | np.ndarray,
    *,
    metric: str,
    seed: int = DEFAULT_SEED,
    alpha: float = ALPHA,
    min_effect: float = 0.0,
) -> tuple[Estimate, float, Verdict]:
    """``(ratio b/a with CI, Mann-Whitney p, verdict)`` for one metric — the whole rule at once."""
    a, b = _clean(a_values), _clean(b_values)
    ratio = ratio_ci(b, a, seed=seed)
    p = mann_whitney(a, b)
    return (
        ratio,
        p,
        verdict(
            ratio, p, int(a.size), int(b.size), metric=metric, alpha=alpha, min_effect=min_effect
        ),
    )


# -- paired repetitions (same-runner A/B duet) ---------------------------------------------


def paired_ratio(
    a_values: Sequence[float] | np.ndarray,
    b_values: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[Estimate, float]:
    """``(ratio b/a with CI, p)`` from PAIRED values: ``a[i]`` and ``b[i]`` were measured at the
    same time (one duet repetition), so each pair's ratio is free of whatever the machine did
    in that repetition, and only the pairs' ratios are judged.

    The ratio is the geometric mean of the per-pair ratios; its interval and the two-sided p
    come from a one-sample t-test on the log ratios (the t interval, exponentiated). Why t and
    not a rank test: with 4 to 12 pairs an exact signed-rank test cannot get below p = 0.125 (4)
    or 0.03 (6), far above what a family-wise correction over a check's verdicts asks (see
    ``holm``), while log ratios of a duet are close to normal (a multiplicative slowdown
    shifts them, the machine's noise spreads them symmetrically). An outlying pair widens the
    interval: it can make a verdict undecided, never a false regression by itself.

    Pairs with a non-positive or non-finite value are dropped (no log). Fewer than 2 pairs:
    the ratio with NaN bounds and p = 1. All pairs the same ratio: that ratio, exact, with
    p = 0 when it is not 1 (a degenerate but certain answer, as in tests with fixed values).
    """
    a = np.asarray(a_values, dtype=float).ravel()
    b = np.asarray(b_values, dtype=float).ravel()
    if a.size != b.size:
        raise ValueError(f"paired values need equal lengths, not {a.size} and {b.size}")
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    logs = np.log(b[ok]) - np.log(a[ok])
    n = int(logs.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0), 1.0
    point = float(np.exp(np.mean(logs)))
    if n < 2:
        return Estimate(point, math.nan, math.nan, n), 1.0
    if np.allclose(logs, logs[0], rtol=0.0, atol=1e-12):
        return Estimate(point, point, point, n), (0.0 if abs(logs[0]) > 1e-12 else 1.0)
    res = _sps.ttest_1samp(logs, 0.0)
    ci = res.confidence_interval(confidence)
    p = float(res.pvalue)
    low, high = float(np.exp(ci.low)), float(np.exp(ci.high))
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(p)):
        return Estimate(point, math.nan, math.nan, n), 1.0
    return Estimate(point, min(low, point), max(high, point), n), p


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input's order.

    A check asks one question per variant × endpoint × metric; at p < 0.05 each, nine
    questions about an unchanged service raise at least one false alarm far more often than
    one time in twenty. Holm's step-down keeps the chance of ANY false alarm in the family at
    or below alpha, and is uniformly more powerful than plain Bonferroni: the smallest p is
    multiplied by m, the next by m − 1, …, each kept at least as large as the one before.
    """
    p = [min(1.0, max(0.0, float(x))) if math.isfinite(float(x)) else 1.0 for x in p_values]
    m = len(p)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda k: p[k])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted
