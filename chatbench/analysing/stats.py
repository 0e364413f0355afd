"""Statistics: one interval method per kind of figure, significance and the regression verdict.

Pure functions on plain sequences of numbers, one value per **repetition**: repetitions are
the statistical unit (interleaved, so machine drift hits every variant alike). Seconds inside
a repetition are autocorrelated and are never samples here. Nothing in this module reads files,
knows about runs or draws, and nothing is random: the same data always give the same answer.

Each kind of figure has ONE method, chosen by how many values it rests on; ``Estimate.method``
names it and ``METHOD_TEXT`` says it in words, so every output can tell the reader what its
interval is:

=========================================  ==================  ============  =========
figure                                      n ≥ 3               n = 2         n ≤ 1
=========================================  ==================  ============  =========
one group (summary, report, suite values)   ``t95-log``         ``range``     ``none``
  … when a value is ≤ 0 (counts, errors)    ``t95``             ``range``     ``none``
ratio of two independent groups             ``welch-t-log``     ``range``     ``none``
(``compare``, stored-baseline ``check``,
suite answers)
ratio of paired values (duet A/B check)     ``paired-t-log``    ``range``     ``none``
=========================================  ==================  ============  =========

* ``t95-log``: the point is the geometric mean; the interval is the 95 % t interval of the mean
  of the log values, exponentiated. For lognormal repetitions (a multiplicative noise, the
  usual shape of throughput and latency) it covers the distribution's median in exactly 95 %
  of runs; ``tests/analysing/test_coverage.py`` measures it by simulation at n = 3, 5, 10.
* ``t95``: the same on the raw values (point: the mean), for a group holding a zero or a
  negative value, which has no logarithm.
* ``welch-t-log``: the ratio of the two geometric means, its 95 % interval and the two-sided p
  of Welch's t-test (unequal variances) on the log values: the difference of log means is the
  log of the ratio.
* ``paired-t-log``: the geometric mean of the per-pair ratios, with the one-sample t interval
  and p of their logs (``paired_ratio``).
* ``range``: 2 values have no usable 95 % interval (a bootstrap one is their range, which
  covers the median half the time; the t interval, with 1 degree of freedom, spans ±12.7
  standard errors and rests wholly on normality), so the figure is shown with the range of its
  2 values (for a ratio: the lowest and highest ratio of a value of one side to one of the
  other) and called exactly that: never a confidence interval, never significant.
* ``none``: one value, or values the method cannot take (a ratio of a group holding a value
  ≤ 0): the point alone.

**Significant** (``is_significant``) needs a real interval (``Estimate.is_ci``; n ≥ 3 a side),
p < ``alpha`` (0.05; for Welch's test the same as the interval excluding 1), the interval
excluding 1, and ``|ratio − 1|`` at least ``min_effect``. ``verdict`` turns that into faster /
slower / no significant change, or *not judged* when there is no real interval.
The direction comes from the metric: higher is better for throughput (``rps``,
``req_per_cpu_s``), lower is better for latencies and everything else.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sps

DEFAULT_CONFIDENCE = 0.95
ALPHA = 0.05
MIN_CI_N = 3  # fewest values a side for a real 95 % interval (and so for any "significant")

# Interval methods (``Estimate.method``; the ``interval`` column of summary.csv).
T95_LOG = "t95-log"
T95 = "t95"
WELCH_T_LOG = "welch-t-log"
PAIRED_T_LOG = "paired-t-log"
RANGE = "range"
NONE = "none"
CI_METHODS = frozenset({T95_LOG, T95, WELCH_T_LOG, PAIRED_T_LOG})
METHOD_TEXT = {
    T95_LOG: "geometric mean, 95 % CI: t interval on the log values",
    T95: "mean, 95 % CI: t interval (a value ≤ 0 has no logarithm)",
    WELCH_T_LOG: "ratio of geometric means, 95 % CI and p: Welch's t-test on the log values",
    PAIRED_T_LOG: "geometric mean of the pair ratios, 95 % CI and p: t-test on their logs",
    RANGE: "range of 2: the lowest and highest value, not a confidence interval",
    NONE: "no interval",
}

# Metrics where a larger number is the better outcome; every other metric is "lower is better".
HIGHER_IS_BETTER = frozenset({"rps", "req_per_cpu_s", "requests"})


class Verdict(enum.StrEnum):
    FASTER = "faster"
    SLOWER = "slower"
    NO_CHANGE = "no significant change"
    NOT_JUDGED = "not judged"  # no real interval: fewer than MIN_CI_N values a side


@dataclass(frozen=True)
class Estimate:
    """A point estimate, its interval, the number of values behind it and the method.

    For a ratio ``n`` is the smaller side's count (pairs for a paired ratio). ``low``/``high``
    are NaN when ``method`` is ``none``; with ``range`` they are a range, not an interval.
    """

    value: float
    low: float
    high: float
    n: int
    method: str = NONE

    @property
    def is_ci(self) -> bool:
        """Whether ``low``–``high`` is a real 95 % confidence interval (finite, n ≥ 3)."""
        return self.method in CI_METHODS and self.n >= MIN_CI_N and has_interval(self)

    @property
    def width(self) -> float:
        return self.high - self.low

    def excludes(self, x: float) -> bool:
        return self.low > x or self.high < x


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def higher_is_better(metric: str) -> bool:
    return metric in HIGHER_IS_BETTER


def has_interval(estimate: Estimate) -> bool:
    """Whether ``estimate`` has a finite point and finite bounds (a CI or a range)."""
    return all(math.isfinite(x) for x in (estimate.value, estimate.low, estimate.high))


def legend(methods: Iterable[str]) -> str:
    """What the bounds of a table or chart are, given the methods of its rows (``interval``
    column): names "95 % CI" only when some row has one, and every other kind present."""
    present = set(methods)
    parts = [METHOD_TEXT[m] for m in (T95_LOG, T95) if m in present]
    if RANGE in present:
        parts.append(METHOD_TEXT[RANGE])
    if NONE in present:
        parts.append("one repetition: no interval")
    return "; ".join(parts) if parts else METHOD_TEXT[NONE]


# -- the vectorised cores: last axis = the repetitions of one draw ---------------------------


def log_t_interval(
    values: np.ndarray, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(geometric mean, low, high)`` of positive ``values`` along the last axis (n ≥ 2):
    the t interval of the mean log value, exponentiated. Vectorised over leading axes."""
    logs = np.log(np.asarray(values, dtype=float))
    point = np.exp(np.mean(logs, axis=-1))
    low, high = _t_bounds(logs, confidence)
    return point, np.exp(low), np.exp(high)


def _t_bounds(x: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """The t interval of the mean of ``x`` along the last axis (zero spread: zero width)."""
    n = x.shape[-1]
    half = _sps.t.ppf(0.5 + confidence / 2, n - 1) * np.std(x, axis=-1, ddof=1) / math.sqrt(n)
    mean = np.mean(x, axis=-1)
    return mean - half, mean + half


def welch_log_ratio(
    numerator: np.ndarray, denominator: np.ndarray, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ratio, low, high, p)``: geometric mean of ``numerator`` over that of ``denominator``
    (positive values, ≥ 2 a side, along the last axis), with the 95 % interval and two-sided p
    of Welch's t-test on the log values. Vectorised over leading axes.

    The same numbers as ``scipy.stats.ttest_ind(..., equal_var=False)`` and its
    ``confidence_interval`` (``tests/analysing/test_stats.py`` checks it), written out because compare
    calls it once per row and the simulation thousands of times: scipy's wrapper costs
    several times the arithmetic.
    """
    ln = np.log(np.asarray(numerator, dtype=float))
    ld = np.log(np.asarray(denominator, dtype=float))
    n1, n2 = ln.shape[-1], ld.shape[-1]
    v1 = np.var(ln, axis=-1, ddof=1) / n1
    v2 = np.var(ld, axis=-1, ddof=1) / n2
    se = np.sqrt(v1 + v2)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))  # Welch–Satterthwaite
        diff = np.mean(ln, axis=-1) - np.mean(ld, axis=-1)
        half = _sps.t.ppf(0.5 + confidence / 2, df) * se
        p = 2 * _sps.t.sf(np.abs(diff) / se, df)
    return np.exp(diff), np.exp(diff - half), np.exp(diff + half), np.asarray(p)


def paired_log_ratio(
    a: np.ndarray, b: np.ndarray, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ratio b/a, low, high, p)`` from positive pairs along the last axis (≥ 2 pairs): the
    geometric mean of the pair ratios with the one-sample t interval and p of their logs."""
    logs = np.log(np.asarray(b, dtype=float)) - np.log(np.asarray(a, dtype=float))
    res = _sps.ttest_1samp(logs, 0.0, axis=-1)
    ci = res.confidence_interval(confidence)
    return np.exp(np.mean(logs, axis=-1)), np.exp(ci.low), np.exp(ci.high), np.asarray(res.pvalue)


# -- one group -----------------------------------------------------------------------------


def interval(
    values: Sequence[float] | np.ndarray, confidence: float = DEFAULT_CONFIDENCE
) -> Estimate:
    """The figure of one group of repetition values, by the table in the module docstring.

    NaNs are dropped. Positive values: geometric mean with ``t95-log`` (n ≥ 3) or ``range``
    (n = 2); a group holding a value ≤ 0: the mean with ``t95`` or ``range``; one value: that
    value, ``none``; no value: NaN, n = 0. Values all equal give a zero-width interval.
    """
    arr = _clean(values)
    n = int(arr.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, NONE)
    positive = bool(np.all(arr > 0))
    if np.all(arr == arr[0]):
        point = float(arr[0])  # exactly, not exp(log(x)) a rounding away from it
    else:
        point = float(np.exp(np.mean(np.log(arr)))) if positive else float(np.mean(arr))
    if n == 1:
        return Estimate(point, math.nan, math.nan, 1, NONE)
    if n < MIN_CI_N:
        return Estimate(point, float(arr.min()), float(arr.max()), n, RANGE)
    if np.all(arr == arr[0]):  # no spread: the interval is the point, exactly
        return Estimate(point, point, point, n, T95_LOG if positive else T95)
    if positive:
        _, low, high = log_t_interval(arr, confidence)
        method = T95_LOG
    else:
        low, high = _t_bounds(arr, confidence)
        method = T95
    # Rounding can put a zero-width interval a hair off its point.
    return Estimate(point, min(float(low), point), max(float(high), point), n, method)


def coefficient_of_variation(values: Sequence[float] | np.ndarray) -> float:
    """Sample standard deviation / mean; nan for fewer than 2 values or a zero mean."""
    arr = _clean(values)
    if arr.size < 2:
        return math.nan
    mean = float(np.mean(arr))
    if mean == 0:
        return math.nan
    return float(np.std(arr, ddof=1) / abs(mean))


# -- ratios --------------------------------------------------------------------------------


def ratio_interval(
    numerator: Sequence[float] | np.ndarray,
    denominator: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[Estimate, float]:
    """``(ratio numerator/denominator, p)`` for two INDEPENDENT groups (``welch-t-log``).

    ``n`` in the estimate is the smaller group's count. Both groups ≥ 3 values: Welch's t on
    the log values. Smaller side of 2: the range of every cross ratio, p = 1. One value on a
    side, or a value ≤ 0 anywhere (no logarithm): the point alone (``none``), p = 1; the point
    is then the ratio of means, NaN when the denominator's mean is 0. Both groups constant:
    that ratio exactly, p = 0 when it is not 1 (a degenerate but certain answer).
    """
    x, y = _clean(numerator), _clean(denominator)
    n = int(min(x.size, y.size))
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, NONE), 1.0
    if not (np.all(x > 0) and np.all(y > 0)):
        my = float(np.mean(y))
        point = float(np.mean(x)) / my if my != 0 else math.nan
        return Estimate(point, math.nan, math.nan, n, NONE), 1.0
    point = float(np.exp(np.mean(np.log(x)) - np.mean(np.log(y))))
    if n == 1:
        return Estimate(point, math.nan, math.nan, 1, NONE), 1.0
    if n < MIN_CI_N:
        low, high = float(x.min() / y.max()), float(x.max() / y.min())
        return Estimate(point, low, high, n, RANGE), 1.0
    if np.all(x == x[0]) and np.all(y == y[0]):
        return Estimate(point, point, point, n, WELCH_T_LOG), (0.0 if point != 1.0 else 1.0)
    _, low, high, p = welch_log_ratio(x, y, confidence)
    return _finished(point, float(low), float(high), float(p), n, WELCH_T_LOG)


def _finished(
    point: float, low: float, high: float, p: float, n: int, method: str
) -> tuple[Estimate, float]:
    """A t-based ratio, or the point alone when the test gave no finite answer."""
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(p)):
        return Estimate(point, math.nan, math.nan, n, NONE), 1.0
    return Estimate(point, min(low, point), max(high, point), n, method), p


def paired_ratio(
    a_values: Sequence[float] | np.ndarray,
    b_values: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[Estimate, float]:
    """``(ratio b/a with CI, p)`` from PAIRED values: ``a[i]`` and ``b[i]`` were measured at the
    same time (one duet repetition), so each pair's ratio is free of whatever the machine did
    in that repetition, and only the pairs' ratios are judged (``paired-t-log``).

    The ratio is the geometric mean of the per-pair ratios; its interval and the two-sided p
    come from a one-sample t-test on the log ratios (the t interval, exponentiated). Why t and
    not a rank test: with 4 to 12 pairs an exact signed-rank test cannot get below p = 0.125 (4)
    or 0.03 (6), far above what a family-wise correction over a check's verdicts asks (see
    ``holm``), while log ratios of a duet are close to normal (a multiplicative slowdown
    shifts them, the machine's noise spreads them symmetrically). An outlying pair widens the
    interval: it can make a verdict undecided, never a false regression by itself.

    Pairs with a non-positive or non-finite value are dropped (no log). No pair: NaN. One
    pair: its ratio, ``none``, p = 1. Two pairs: the range of their 2 ratios, p = 1 (never
    significant). All pairs the same ratio: that ratio, exact, with p = 0 when it is not 1 (a
    degenerate but certain answer, as in tests with fixed values).
    """
    a = np.asarray(a_values, dtype=float).ravel()
    b = np.asarray(b_values, dtype=float).ravel()
    if a.size != b.size:
        raise ValueError(f"paired values need equal lengths, not {a.size} and {b.size}")
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    logs = np.log(b[ok]) - np.log(a[ok])
    n = int(logs.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, NONE), 1.0
    point = float(np.exp(np.mean(logs)))
    if n == 1:
        return Estimate(point, math.nan, math.nan, 1, NONE), 1.0
    if n < MIN_CI_N:
        ratios = np.exp(logs)
        return Estimate(point, float(ratios.min()), float(ratios.max()), n, RANGE), 1.0
    if np.allclose(logs, logs[0], rtol=0.0, atol=1e-12):
        p = 0.0 if abs(logs[0]) > 1e-12 else 1.0
        return Estimate(point, point, point, n, PAIRED_T_LOG), p
    _, low, high, p = paired_log_ratio(a[ok], b[ok], confidence)
    return _finished(point, float(low), float(high), float(p), n, PAIRED_T_LOG)


# -- significance and the verdict ----------------------------------------------------------


def is_significant(
    ratio: Estimate, p_value: float, *, alpha: float = ALPHA, min_effect: float = 0.0
) -> bool:
    """The significance rule of the module docstring.

    Only a real interval (``ratio.is_ci``: n ≥ 3, finite, a t method) can be significant: a
    range of 2 or no interval never is. ``p_value`` may be family-adjusted (``holm``); it must
    be below ``alpha`` as well as the interval excluding 1.
    """
    if not ratio.is_ci or not ratio.excludes(1.0) or not p_value < alpha:
        return False
    return abs(ratio.value - 1.0) >= min_effect


def verdict(
    ratio: Estimate,
    p_value: float,
    *,
    metric: str,
    alpha: float = ALPHA,
    min_effect: float = 0.0,
) -> Verdict:
    """Faster / slower / no significant change for ``ratio = new / old``; *not judged* when
    the ratio has no real interval (fewer than ``MIN_CI_N`` values a side, or none computable).
    """
    if not ratio.is_ci:
        return Verdict.NOT_JUDGED
    if not is_significant(ratio, p_value, alpha=alpha, min_effect=min_effect):
        return Verdict.NO_CHANGE
    went_up = ratio.value > 1.0
    better = went_up if higher_is_better(metric) else not went_up
    return Verdict.FASTER if better else Verdict.SLOWER


def compare_values(
    a_values: Sequence[float] | np.ndarray,
    b_values: Sequence[float] | np.ndarray,
    *,
    metric: str,
    alpha: float = ALPHA,
    min_effect: float = 0.0,
) -> tuple[Estimate, float, Verdict]:
    """``(ratio b/a, Welch p, verdict)`` for two independent groups of one metric — the whole
    rule at once; ``chatbench compare`` and the stored-baseline gate both decide with it."""
    ratio, p = ratio_interval(b_values, a_values)
    return ratio, p, verdict(ratio, p, metric=metric, alpha=alpha, min_effect=min_effect)


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
