"""Alpha spending for the adaptive rounds of a same-runner A/B check.

``chatbench check --base`` looks at its data after every round and runs another while a verdict
is undecided (``workflows.ab``). Each look at p < 0.05 is another chance for noise to pass the
rule: five looks at a fixed 0.05 (Holm over three verdicts) let about 15 % of unchanged
services raise a significant verdict instead of 5 % (simulated in the tests). So the looks share the 5 % by a stated rule, the Lan–DeMets spending
function of Pocock type (Lan and DeMets 1983; Kim and DeMets 1987):

    α(t) = α · ln(1 + (e − 1) · t),   t = repetitions judged so far / the most a check may judge

``α(t)`` is the false-alarm probability spent by the time a fraction ``t`` of the planned
information is in. At look ``k`` a test is significant when its two-sided p is below the
increment ``α(t_k) − α(t_(k−1))`` (:func:`nominal_alpha`), so the chance that any look raises
a false alarm is at most the sum of the increments, ``α(t_last) ≤ α``, whatever the dependence
between looks. The exact group-sequential bounds (Armitage, McPherson and Rowe's recursion)
spend the same function less wastefully, but they assume normal statistics; with 3–11 pairs the
t-test's estimated SD moves with the data, and simulated with t-tests they let 5.3–5.6 % of
unchanged services through instead of 5 %. Pocock's shape spends early (``α(1/3)`` = 2.3 % of
the 5 %), so the first round, which catches most regressions, keeps most of its power;
O'Brien–Fleming's would leave it almost none. A check that stops before its last planned look
has spent less than 5 %, never more.

The most a check may judge is ``MAX_ROUNDS`` rounds (the first, then extra rounds), fixed before
any data: with the ``ci`` profile, 4 + 4 × 2 = 12 pairs. Every verdict of a duet check is also
Holm-adjusted over the check; at look ``k`` Holm's step ``j`` (of ``m`` verdicts) compares the
``j``-th smallest p with the increment of the same function at ``α / (m − j)``: Holm at level
``α(t_k) − α(t_(k−1))`` within the look, so each look's false alarms stay within its
increment. ``tests/analysing/test_sequential.py`` simulates whole adaptive checks of unchanged
services and finds a family-wise rate of significant verdicts at or below 5 %, where the same
looks at a fixed 0.05 exceed it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_ROUNDS = 5  # the first round and at most four extra ones (see the module docstring)
RULE = "Lan–DeMets alpha spending, Pocock type: α(t) = α·ln(1 + (e − 1)·t)"


def spent(t: float, alpha: float) -> float:
    """α(t): the false-alarm probability spent by information fraction ``t`` (0..1)."""
    t = min(1.0, max(0.0, t))
    return alpha * math.log1p((math.e - 1.0) * t)


def information(first: int, extra: int, rounds: int) -> tuple[float, ...]:
    """The information fractions of the first ``rounds`` looks of a check whose first round has
    ``first`` repetitions a side and each extra round ``extra``, out of ``MAX_ROUNDS``."""
    most = first + (MAX_ROUNDS - 1) * extra
    return tuple((first + k * extra) / most for k in range(min(rounds, MAX_ROUNDS)))


def nominal_alpha(alpha: float, looks: Sequence[float]) -> float:
    """The two-sided nominal level at the last of ``looks`` (information fractions, in
    order): the increment ``α(t_k) − α(t_(k−1))`` of the spending function; ``alpha`` itself
    for a check of one look (no ``looks``)."""
    if not looks:
        return alpha
    last = looks[-1]
    before = looks[-2] if len(looks) > 1 else 0.0
    return max(0.0, spent(last, alpha) - spent(before, alpha))


def holm_levels(alpha: float, looks: Sequence[float], m: int) -> list[float]:
    """The nominal level of each Holm step at the last of ``looks`` for ``m`` verdicts: step
    ``j`` (0-based) spends ``alpha / (m − j)`` (see the module docstring)."""
    return [nominal_alpha(alpha / (m - j), looks) for j in range(m)]


def adjusted_p(p_values: Sequence[float], alpha: float, looks: Sequence[float]) -> list[float]:
    """Each p on the scale of ``alpha``: below ``alpha`` exactly when Holm's step-down at this
    look, with the levels of :func:`holm_levels`, calls it significant. With one look this is
    Holm's adjusted p (``stats.holm``)."""
    p = [min(1.0, max(0.0, float(x))) if math.isfinite(float(x)) else 1.0 for x in p_values]
    m = len(p)
    levels = holm_levels(alpha, looks, m)
    out = [1.0] * m
    running = 0.0
    for step, i in enumerate(sorted(range(m), key=lambda k: p[k])):
        scaled = p[i] * alpha / levels[step] if levels[step] > 0 else 1.0
        running = max(running, min(1.0, scaled))
        out[i] = running
    return out
