"""When a run's answers point different ways: one sentence that says why, or the weaker withheld.

Each ratio the verdict states (``presenting.headline``) is a **claim**: a variant against the
reference, which way is better, and whether it is decided (significant; for the SLO answer,
brackets that exclude 1). The closed-loop p99 is a claim too, though never an answer: tables
show it, and a faster framework with the worse closed-loop tail reads as a contradiction.

Per variant, the strongest decided claim (capacity first, then the equal-load rates from the
highest, then the SLO answer) says which side is better. A claim leaning the other way gets a
cause read from the data, for the side the strong claim favours:

* **pauses**: its windows' full garbage collections paused it for at least the share of
  requests the claim's percentile leaves (``tails.pause_clause``): the pauses, not its speed,
  set that tail;
* **overload**: windows that missed the objective by not keeping the offered rate.

A claim with no such cause is **withheld**: the verdict does not state it as an answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chatbench.analysing import tails
from chatbench.analysing.answers import RunAnswer
from chatbench.analysing.slo import MISSED
from chatbench.configuration.windows import needs_pause_span
from chatbench.storing.record import PauseRecord
from chatbench.storing.rundir import Run

CLOSED_LOOP = "closed-loop p99"


@dataclass(frozen=True)
class Claim:
    """One ratio of the verdict, as the reconciliation weighs it."""

    kind: str  # "capacity", "equal load", "slo", "closed-loop p99"
    label: str  # how a sentence names it: "the capacity ratio (1.86×)"
    variant: str
    reference: str
    value: float  # variant / reference
    higher_is_better: bool
    decided: bool  # significant (or, for the SLO answer, brackets apart)
    rank: int  # the lower, the stronger
    rate: float | None = None
    percentile: float | None = None

    @property
    def key(self) -> tuple[str, str, float | None]:
        return (self.kind, self.variant, self.rate)

    @property
    def lean(self) -> float:
        """> 0: the variant is better; < 0: the reference is (0: equal, or no value)."""
        if not (math.isfinite(self.value) and self.value > 0):
            return 0.0
        return math.log(self.value) * (1 if self.higher_is_better else -1)


@dataclass(frozen=True)
class Reconciled:
    sentence: str  # "" when no answers point different ways
    withheld: frozenset[tuple[str, str, float | None]]  # ``Claim.key`` of each withheld claim


def _paused(pauses: Sequence[PauseRecord], percentile: float) -> str:
    """The pause clause when the pauses alone can set ``percentile``, else ""."""
    if not pauses or not any(p.full for p in pauses):
        return ""
    share = sum(float(p.paused_share) for p in pauses) / len(pauses)
    if not needs_pause_span(percentile, share):
        return ""
    return tails.pause_clause(pauses, percentile)


def _windows_pauses(run: Run, answer: RunAnswer, claim: Claim, who: str) -> list[PauseRecord]:
    """The pauses ``who`` recorded in the windows behind ``claim``."""
    if claim.kind == "equal load":
        found = [r for r in answer.equal_load if r.rate == claim.rate]
        return [
            w.pauses
            for r in found
            for v in r.variants
            if v.variant == who
            for w in v.windows
            if w.pauses is not None and not w.overloaded
        ]
    if claim.kind == "slo" and answer.slo is not None:
        for v in answer.slo.variants:
            if v.variant == who:
                low = v.bracket.low or 0.0
                return [w.pauses for w in v.windows if w.pauses is not None and w.rate >= low]
        return []
    if claim.kind == CLOSED_LOOP:
        invalid = run.record.invalid
        return [
            p
            for r in run.repetitions
            if r.variant == who
            and (r.variant, r.repetition) not in invalid
            and (p := run.record.evidence.pauses.get(f"{r.variant}#{r.repetition}")) is not None
        ]
    return []


def _overloaded(answer: RunAnswer, who: str) -> list[float]:
    """Rates at which ``who``'s SLO windows missed by falling behind the offered rate."""
    if answer.slo is None:
        return []
    for v in answer.slo.variants:
        if v.variant == who:
            return sorted(
                {
                    w.rate
                    for w in v.windows
                    if w.outcome == MISSED and w.value_ms is not None and w.value_ms <= v.bound_ms
                }
            )
    return []


def cause(run: Run, answer: RunAnswer, claim: Claim, favoured: str) -> str:
    """Why ``claim`` leans against ``favoured`` (the side the stronger claim prefers), from the
    data; "" when nothing recorded explains it."""
    if claim.percentile is not None:
        clause = _paused(_windows_pauses(run, answer, claim, favoured), claim.percentile)
        if clause:
            return (
                f"{favoured}'s {clause}, so its pauses, not its speed, set its "
                f"{tails.label(claim.percentile)}"
            )
    if claim.kind == "slo":
        rates = _overloaded(answer, favoured)
        kept = [v for v in answer.slo.variants if v.variant == favoured] if answer.slo else []
        low = kept[0].bracket.low if kept else None
        if rates and (low is None or min(rates) > low):
            shown = ", ".join(f"{r:,.0f}" for r in rates[:3])
            return f"{favoured} fell behind the offered rate (overloaded) at {shown} req/s"
    return ""


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def reconcile(run: Run, answer: RunAnswer, claims: Sequence[Claim]) -> Reconciled:
    """The one sentence on the claims that point different ways, and the withheld claims."""
    sentences: list[str] = []
    withheld: set[tuple[str, str, float | None]] = set()
    for variant in dict.fromkeys(c.variant for c in claims):
        mine = sorted(
            (c for c in claims if c.variant == variant and c.lean != 0), key=lambda c: c.rank
        )
        strong = next((c for c in mine if c.decided), None)
        if strong is None:
            continue
        favoured = variant if strong.lean > 0 else strong.reference
        opposed = [c for c in mine if c is not strong and (c.lean > 0) != (strong.lean > 0)]
        if not opposed:
            continue
        reasons: dict[str, list[Claim]] = {}
        held: list[Claim] = []
        for c in opposed:
            why = cause(run, answer, c, favoured)
            if why:
                reasons.setdefault(why, []).append(c)
            else:
                held.append(c)
        text = (
            f"{strong.label[0].upper()}{strong.label[1:]} favours {favoured}, but "
            f"{_join([c.label for c in opposed])} point{'s' if len(opposed) == 1 else ''} "
            "the other way"
        )
        single = len(opposed) == 1
        parts = [("" if single else f"{_names(cs)}: ") + why for why, cs in reasons.items()]
        if held:
            parts.append(_withheld_clause(run, answer, held, single))
            withheld |= {c.key for c in held}
        sentences.append(text + ": " + "; ".join(parts) + ".")
    return Reconciled(" ".join(sentences), frozenset(withheld))


def _recorded(run: Run, answer: RunAnswer, held: Sequence[Claim]) -> bool:
    """Whether the windows behind any of ``held`` recorded pauses (of either side)."""
    return any(
        _windows_pauses(run, answer, c, who) for c in held for who in (c.variant, c.reference)
    )


def _names(claims: Sequence[Claim]) -> str:
    """The claims' labels without their figures: ``the p99 ratio at 464 req/s``."""
    return _join([c.label.split(" (")[0] for c in claims])


def _withheld_clause(run: Run, answer: RunAnswer, held: Sequence[Claim], single: bool) -> str:
    """``it is withheld: …`` (``single``: the only claim against), else naming them; a
    closed-loop tail is never an answer, and the clause says why (Little's law)."""
    names = "it" if single else _names(held)
    verb = "is" if single or len(held) == 1 else "are"
    them = "it" if single or len(held) == 1 else "them"
    if all(c.kind == CLOSED_LOOP for c in held):
        tail = (
            "no recorded pause explains its tail"
            if _recorded(run, answer, held)
            else "no pauses were recorded to explain its tail"
        )
        return (
            f"{names} {verb} not an answer: a closed loop holds each service at saturation, "
            f"where latency is queueing (Little's law), and {tail}"
        )
    if _recorded(run, answer, held):
        return f"{names} {verb} withheld: no recorded pause or overload explains {them}"
    return f"{names} {verb} withheld: no pauses were recorded, and nothing else explains {them}"
