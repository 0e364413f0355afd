"""Change points over the check history: the commit where a figure shifted, its size and interval.

One check judges one commit against one reference, so a slow drift (five merges at −2 % each,
each within the gate's threshold) passes every check. Over the history the drift is a change in
level, and finding where a series' level changes is what E-divisive means does (Matteson and
James; as MongoDB and Apache Otava run it on their performance history). This module hands the
series to Apache Otava's implementation (``otava.analysis.compute_change_points``: the windowed
E-divisive split with a t-test per candidate, then the merge of weak points) and describes each
point it returns: the commit whose figure is the first of the new level, the ratio of the
geometric means after / before with its 95 % Welch interval on the logs (``stats.compare_values``,
the rule the gate uses), and Otava's p.

What a series is (:func:`levels`):

* a stored-baseline check: the candidate's median per check, raw (and normalised, a series of
  its own), so a runner that got slower shifts the raw series and not the normalised one;
* an A/B check: a ratio head/base says nothing about the level by itself (every check of a
  drifting branch reads 0.98), so consecutive ratios are *chained*: a check whose base is the
  previous chained check's head multiplies that check's level by its ratio. A check whose base
  is not the previous head (a pull request's merge base) is left out of the chain. Chained
  levels are a random walk of the checks' noise, so a long history makes small spurious steps
  likelier; Otava's p (here 0.0001) and the interval keep them rare and visible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chatbench.analysing import stats
from chatbench.errors import ChatbenchError

MAX_PVALUE = 1e-4  # stricter than Otava's 0.001: see tests/analysing/test_changepoints.py
WINDOW = 50  # Otava's default sliding window (checks)
MIN_POINTS = 6  # fewer checks than this in a series: no change point is looked for
MIN_SEGMENT = 3  # checks on each side of a shift: the fewest with a real 95 % interval


class MissingExtraError(ChatbenchError):
    """An optional part of chatbench is used without its extra installed."""


@dataclass(frozen=True)
class Shift:
    """One change point in one series: where, how big, how sure."""

    series: str  # e.g. "fastapi ALL rps" (or "... rps normalised", "... rps chained ratio")
    metric: str
    index: int  # position in the series of the first value of the new level
    sha: str  # the commit of that check
    before: float  # geometric mean of the level before (back to the previous shift)
    after: float  # geometric mean of the level after (up to the next shift)
    ratio: stats.Estimate  # after / before, with its 95 % Welch interval on the logs
    p_value: float  # Otava's p for the split

    @property
    def change(self) -> float:
        return self.ratio.value - 1.0

    @property
    def worse(self) -> bool:
        """Whether the shift is in the bad direction for its metric."""
        return (self.ratio.value < 1) == stats.higher_is_better(self.metric)

    def sentence(self) -> str:
        bounds = (
            f"95 % CI {self.ratio.low - 1:+.1%}…{self.ratio.high - 1:+.1%}"
            if self.ratio.is_ci
            else "no 95 % CI"
        )
        kind = "worse" if self.worse else "better"
        return (
            f"{self.series}: shift at commit {self.sha} ({kind}, {self.change:+.1%}, {bounds}, "
            f"p={self.p_value:.2g}; level {self.before:.4g} → {self.after:.4g})"
        )


def chain(
    ratios: Sequence[float], heads: Sequence[str], bases: Sequence[str | None]
) -> list[tuple[int, float]]:
    """``(position, level)`` of each A/B check that continues the chain: its base is the head
    of the previous chained check (a missing base continues it). The first check's level is
    its ratio (its base counts as 1)."""
    out: list[tuple[int, float]] = []
    last_head: str | None = None
    level = 1.0
    for i, (ratio, head, base) in enumerate(zip(ratios, heads, bases, strict=True)):
        if not (math.isfinite(ratio) and ratio > 0):
            continue
        if out and base is not None and last_head is not None and base != last_head:
            continue  # a pull request's check: its base is not the chain's last head
        level *= ratio
        out.append((i, level))
        last_head = head
    return out


def detect(
    values: Sequence[float],
    shas: Sequence[str],
    *,
    series: str,
    metric: str,
    max_pvalue: float = MAX_PVALUE,
    window: int = WINDOW,
) -> list[Shift]:
    """Otava's change points in ``values`` (one per check, in check order; NaN: no figure),
    each named by the commit where the new level starts."""
    try:
        from otava.analysis import compute_change_points
    except ImportError:
        raise MissingExtraError(
            "Change points need Apache Otava, which is not installed: "
            "pip install 'chatbench[history]' (or `make venv` in a checkout)."
        ) from None

    kept = [
        (float(v), s, i) for i, (v, s) in enumerate(zip(values, shas, strict=True)) if _positive(v)
    ]
    if len(kept) < MIN_POINTS:
        return []
    xs = [v for v, _, _ in kept]
    # Otava indexes slices of a list; a numpy array breaks its split step (0.8.0).
    points, _ = compute_change_points(xs, window_len=window, max_pvalue=max_pvalue)
    cuts = sorted(int(p.index) for p in points)
    # A level needs MIN_SEGMENT checks to have a real interval: a "shift" in the last one or
    # two checks is left until more checks confirm or dismiss it.
    while cuts:
        edges = [0, *cuts, len(xs)]
        short = [c for k, c in enumerate(cuts) if min(c - edges[k], edges[k + 2] - c) < MIN_SEGMENT]
        if not short:
            break
        cuts.remove(short[0])
    edges = [0, *cuts, len(xs)]
    shifts = []
    for k, cut in enumerate(cuts):
        before, after = xs[edges[k] : cut], xs[cut : edges[k + 2]]
        ratio, _, _ = stats.compare_values(before, after, metric=metric)
        p = next(float(pt.stats.pvalue) for pt in points if int(pt.index) == cut)
        shifts.append(
            Shift(
                series=series,
                metric=metric,
                index=kept[cut][2],
                sha=kept[cut][1],
                before=stats.interval(before).value,
                after=stats.interval(after).value,
                ratio=ratio,
                p_value=p,
            )  # fmt: skip
        )
    return shifts


def _positive(v: float) -> bool:
    try:
        return math.isfinite(float(v)) and float(v) > 0
    except (TypeError, ValueError):
        return False
