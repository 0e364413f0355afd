"""What a check could have caught: the smallest slowdown its own rule catches 80 % of the time.

A verdict of "no change" means little without the size of change the check would have seen.
The gate calls a change a regression when two things hold together (``analysing.gate``): the
test is significant at its alpha *and* the estimated change in the bad direction is at least the
threshold. So the power that matters is the probability of both, and "would catch" is the
smallest true slowdown for which it reaches ``POWER`` (80 %), given the noise this check
observed and the pairs or repetitions it had. A true slowdown exactly at the threshold is
caught only about half the time (the estimate falls short of it as often as not), so where the
threshold binds, the detectable slowdown lies above it.

Power under the rule (:func:`rule_power`): the estimate of the log change is ``D ~ N(δ, se²)``
and the test's standard error is estimated as ``se·sqrt(W/ν)`` with ``W ~ χ²(ν)`` independent of
``D`` (exact for the paired t-test on log ratios, ``ν = n − 1``; for Welch's test the
Welch–Satterthwaite ``ν``, the same approximation Welch's test itself makes). A regression is
``D ≥ t(1 − α/2, ν)·se·sqrt(W/ν)`` (significant, bad side) and ``D ≥ log(1 + threshold)``,
so ``power(δ) = E_W[Φ((δ − max(L, t·se·sqrt(W/ν))) / se)]``, one integral over ``W``
(a midpoint rule over χ² quantiles; ``scipy.integrate.quad`` agrees, see the tests). With no threshold this is the non-central t power of the one-sided
part of the test. Fewer pairs or repetitions than the gate's minimum can only be undecided:
nothing is caught (NaN).

The effect is returned on the log scale (``delta``): a ratio of ``exp(-delta)`` for a metric
where higher is better, ``exp(delta)`` otherwise. ``tests/analysing/test_power.py`` simulates
the gate's own rule with a true SD other than the estimated one, at 3, 5 and 8 pairs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

POWER = 0.8
MIN_VALUES = 3  # a side (or pairs): fewer have no real 95 % interval, so no test to power


def rule_power(effect: float, *, se: float, df: float, alpha: float, threshold: float) -> float:
    """Probability that the gate calls a true log slowdown ``effect`` a regression: its
    two-sided t-test at ``alpha`` significant on the bad side *and* the estimated slowdown at
    least ``threshold`` (extra cost per request, e.g. 0.05), for an estimate with standard
    error ``se`` whose own estimate has ``df`` degrees of freedom (module docstring)."""
    if not (math.isfinite(se) and math.isfinite(df)) or df <= 0 or se < 0:
        return math.nan
    bar = math.log1p(threshold) if threshold > 0 else 0.0
    if se == 0:
        return 1.0 if effect >= bar and effect > 0 else 0.0
    crit = float(sps.t.ppf(1 - alpha / 2, df))
    needed = np.maximum(bar, crit * se * _scaled_chi(float(df)))
    return float(np.mean(special.ndtr((effect - needed) / se)))


# E_W[g(W)] = ∫₀¹ g(F⁻¹(u)) du for W ~ χ²(ν): the midpoint rule over u, vectorised. g is
# bounded and monotone in W, so the error is far below what a simulation could see (the tests
# compare it with scipy.integrate.quad).
_NODES = 4096


@functools.lru_cache(maxsize=256)
def _scaled_chi(df: float) -> np.ndarray:
    """sqrt(W/ν) at the ``_NODES`` midpoint quantiles of W ~ χ²(ν)."""
    u = (np.arange(_NODES) + 0.5) / _NODES
    return np.sqrt(sps.chi2.ppf(u, df) / df)


def detectable_effect(
    *, se: float, df: float, alpha: float, threshold: float = 0.0, power: float = POWER
) -> float:
    """The smallest true log slowdown that :func:`rule_power` catches with ``power``."""
    if not (math.isfinite(se) and math.isfinite(df)) or df <= 0:
        return math.nan
    bar = math.log1p(threshold) if threshold > 0 else 0.0
    if se == 0:
        return bar

    def short(x: float) -> float:
        return rule_power(x, se=se, df=df, alpha=alpha, threshold=threshold) - power

    high = bar + se
    while short(high) < 0:  # power grows with the effect: widen until it holds the target
        high = bar + 2 * (high - bar)
        if high - bar > 1e3 * se + 10:
            return math.nan
    return float(optimize.brentq(short, 0.0, high, xtol=1e-10))


def _logs(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr) & (arr > 0)]
    return np.log(arr)


def paired_se(reference: Sequence[float], candidate: Sequence[float]) -> tuple[float, float]:
    """(standard error, degrees of freedom) of the mean log ratio candidate[i]/reference[i]."""
    ref = np.asarray(reference, dtype=float)
    cand = np.asarray(candidate, dtype=float)
    ok = np.isfinite(ref) & np.isfinite(cand) & (ref > 0) & (cand > 0)
    d = np.log(cand[ok]) - np.log(ref[ok])
    if d.size < MIN_VALUES:
        return math.nan, math.nan
    return float(np.std(d, ddof=1)) / math.sqrt(d.size), float(d.size - 1)


def welch_se(reference: Sequence[float], candidate: Sequence[float]) -> tuple[float, float]:
    """(standard error, Welch–Satterthwaite degrees of freedom) of the difference of the mean
    logs of two groups."""
    a, b = _logs(reference), _logs(candidate)
    if a.size < MIN_VALUES or b.size < MIN_VALUES:
        return math.nan, math.nan
    va, vb = np.var(a, ddof=1) / a.size, np.var(b, ddof=1) / b.size
    if va + vb == 0:
        return 0.0, float(a.size + b.size - 2)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return math.sqrt(va + vb), float(df)


def paired_delta(
    reference: Sequence[float],
    candidate: Sequence[float],
    *,
    alpha: float,
    threshold: float = 0.0,
    power: float = POWER,
) -> float:
    """Detectable log slowdown of a duet verdict (paired t-test on the log ratios)."""
    se, df = paired_se(reference, candidate)
    return detectable_effect(se=se, df=df, alpha=alpha, threshold=threshold, power=power)


def welch_delta(
    reference: Sequence[float],
    candidate: Sequence[float],
    *,
    alpha: float,
    threshold: float = 0.0,
    power: float = POWER,
) -> float:
    """Detectable log slowdown of a two-sample verdict (Welch's t-test on the log values)."""
    se, df = welch_se(reference, candidate)
    return detectable_effect(se=se, df=df, alpha=alpha, threshold=threshold, power=power)


def rate_bounds(k: int, n: int) -> tuple[float, float]:
    """Exact (Clopper–Pearson) one-sided 95 % bounds of a rate seen ``k`` times in ``n``
    trials: (lower, upper), each the end of the two-sided 90 % interval
    (``scipy.stats.binomtest``). 10/10 detections say only that the rate is at least 74 %;
    0/20 false alarms, that it is at most 14 %."""
    if n <= 0:
        return math.nan, math.nan
    ci = sps.binomtest(k, n).proportion_ci(0.90, method="exact")
    return float(ci.low), float(ci.high)
