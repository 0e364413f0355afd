"""The cells of the verdict's table and the words of its sentences (``presenting.headline``).

A figure is written with the bounds ``analysing`` gave it: ``1,078 [1,043–1,114]`` for a 95 %
CI, ``[range …]`` for the range of 2, ``(n = 1)`` for none; a ratio cell adds what those bounds
allow to be said (significant, not, not judged, withheld).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from chatbench.analysing import stats

CAPACITY, EQUAL_LOAD, SLO, CROSSCHECK = "capacity", "equal load", "slo", "cross-check"


@dataclass(frozen=True)
class Ratio:
    """One ratio cell: the ratio with its bounds, and what they allow to be said."""

    text: str  # "1.86× [1.59–2.17]"; "–" without a ratio
    judged: str  # "significant (p = 0.0003)", "not significant", "not judged: range of 2", …
    significant: bool = False


NO_RATIO = Ratio("–", "")


@dataclass(frozen=True)
class Row:
    """One row of the verdict's table: an answer's figure per variant, its ratios."""

    answer: str  # what the row measures, with its unit
    kind: str  # CAPACITY, EQUAL_LOAD, SLO or CROSSCHECK
    figures: tuple[str, ...]  # per variant, in ``Headline.variants`` order
    ratios: tuple[Ratio, ...]  # per compared variant, in ``Headline.compared`` order


def bounds(est: stats.Estimate, fmt: str) -> str:
    """`` [95 % CI 1.59–2.17]``, `` [range of 2: …]`` or `` (n = 1, no interval)``."""
    if est.is_ci:
        return f" [95 % CI {est.low:{fmt}}–{est.high:{fmt}}]"
    if est.method == stats.RANGE and stats.has_interval(est):
        return f" [range of 2: {est.low:{fmt}}–{est.high:{fmt}}]"
    return f" (n = {est.n}, no interval)"


def cell(est: stats.Estimate, fmt: str, unit: str = "") -> str:
    """``1,078 [1,043–1,114]``, ``1,078 [range 1,000–1,100]`` or ``1,078 (n = 1)``."""
    if not math.isfinite(est.value):
        return "–"
    point = f"{est.value:{fmt}}{unit}"
    if est.is_ci:
        return f"{point} [{est.low:{fmt}}–{est.high:{fmt}}]"
    if est.method == stats.RANGE and stats.has_interval(est):
        return f"{point} [range {est.low:{fmt}}–{est.high:{fmt}}]"
    return f"{point} (n = {est.n})"


def ms_fmt(value: float) -> str:
    return ".1f" if value < 100 else ",.0f"


def ratio_cell(est: stats.Estimate, p: float, *, widened: stats.Estimate | None = None) -> Ratio:
    """A ratio cell judged by ``stats``' rule (and, widened, by the widened interval too)."""
    if not math.isfinite(est.value):
        return NO_RATIO
    text = f"{est.value:.2f}×"
    if est.is_ci:
        text += f" [{est.low:.2f}–{est.high:.2f}]"
        significant = stats.is_significant(est, p) and (widened is None or widened.excludes(1))
        judged = f"{'significant' if significant else 'not significant'} (p = {p:.2g})"
        if widened is not None:
            judged += f"; widened to {widened.low:.2f}–{widened.high:.2f} to cover wrk's reading"
        return Ratio(text, judged, significant)
    if est.method == stats.RANGE and stats.has_interval(est):
        return Ratio(
            f"{text} [range {est.low:.2f}–{est.high:.2f}]",
            f"not judged: {est.n} repetitions, {stats.MIN_CI_N} needed",
        )
    return Ratio(text, f"not judged: n = {est.n}")


def join(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def short_reason(reason: str) -> str:
    """A reason for a table cell: each clause up to its first colon (``loadgen saturated: …``
    → ``loadgen saturated``); the sentences keep the whole reason."""
    plain = re.sub(r"\s*\([^()]*\)", "", reason)
    return "; ".join(part.split(": ")[0] for part in plain.split("; "))


WITHHELD = "withheld: see the sentence on answers that point different ways"
Keys = frozenset[tuple[str, str, float | None]]


def held(cell: Ratio, key: tuple[str, str, float | None], withheld: Keys) -> Ratio:
    return Ratio(cell.text, WITHHELD) if key in withheld and cell.text != "–" else cell


def judged_words(r: Ratio) -> str:
    """The ratio's judgement as words in a sentence."""
    if r.judged.startswith("significant"):
        return "a significant difference" + r.judged.removeprefix("significant").split(";")[0]
    if r.judged.startswith("not significant"):
        return (
            "not a significant difference" + r.judged.removeprefix("not significant").split(";")[0]
        )
    if r.judged == WITHHELD:
        return "withheld (see below)"
    return r.judged.split(":")[0]  # "not judged": the bounds beside it say why
