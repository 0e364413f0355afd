"""What a check could have caught: the minimum detectable effect of each verdict.

A verdict of "no change" means little without the size of change the check would have seen. For
each finding the gate states the smallest true change of the ratio that its own test (the
paired t-test on the log ratios of a duet, or Welch's t-test on the log values of two groups)
would call significant with probability ``POWER`` (80 %) at its alpha, given the noise this
check observed and the number of repetitions it had. The power is the exact one of a t-test
under a shift: the non-central t distribution (``scipy.stats.nct``), for Welch's test with the
Welch–Satterthwaite degrees of freedom (an approximation, as for Welch's test itself).
``tests/analysing/test_power.py`` checks it by simulation: an effect of the stated size,
drawn with the observed noise, is detected about 80 % of the time.

The effect is returned on the log scale (``delta``): a ratio of ``exp(-delta)`` for a metric
where higher is better, ``exp(delta)`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize
from scipy import stats as sps

POWER = 0.8


def t_power(noncentrality: float, df: float, alpha: float) -> float:
    """Power of a two-sided t-test at ``alpha`` when the statistic is non-central t(df, nc)."""
    crit = sps.t.ppf(1 - alpha / 2, df)
    dist = sps.nct(df, noncentrality)
    wrong_side = float(dist.cdf(-crit))  # vanishing for a large shift; scipy may give NaN there
    return float(dist.sf(crit)) + (wrong_side if math.isfinite(wrong_side) else 0.0)


def _solve(se: float, df: float, alpha: float, power: float) -> float:
    """The log effect whose power is ``power`` for a standard error ``se``."""
    if not (math.isfinite(se) and math.isfinite(df)) or df <= 0:
        return math.nan
    if se == 0:
        return 0.0
    # Power grows with the non-centrality: double the bracket until it holds the target
    # (scipy's nct turns NaN far out, so the bracket stays as small as it can).
    high = 1.0
    while t_power(high, df, alpha) < power:
        high *= 2
        if high > 1e4:
            return math.nan
    nc = optimize.brentq(lambda x: t_power(x, df, alpha) - power, 0.0, high, xtol=1e-9)
    return float(nc * se)


def _logs(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr) & (arr > 0)]
    return np.log(arr)


def paired_delta(
    reference: Sequence[float], candidate: Sequence[float], *, alpha: float, power: float = POWER
) -> float:
    """Detectable log effect of the paired t-test on log(candidate[i] / reference[i])."""
    ref = np.asarray(reference, dtype=float)
    cand = np.asarray(candidate, dtype=float)
    ok = np.isfinite(ref) & np.isfinite(cand) & (ref > 0) & (cand > 0)
    d = np.log(cand[ok]) - np.log(ref[ok])
    if d.size < 3:
        return math.nan
    return _solve(float(np.std(d, ddof=1)) / math.sqrt(d.size), d.size - 1, alpha, power)


def welch_delta(
    reference: Sequence[float], candidate: Sequence[float], *, alpha: float, power: float = POWER
) -> float:
    """Detectable log effect of Welch's t-test on the log values of two groups."""
    a, b = _logs(reference), _logs(candidate)
    if a.size < 3 or b.size < 3:
        return math.nan
    va, vb = np.var(a, ddof=1) / a.size, np.var(b, ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return 0.0
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return _solve(se, float(df), alpha, power)
