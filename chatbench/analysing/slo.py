"""Capacity under a latency objective: the answer's third part, from the run's SLO windows.

The question: the highest open-model rate at which a variant keeps the objective (its chosen
percentile, from the intended send time, within the bound) AND the offered rate (not
overloaded). The run (``workflows.phases.slo``) tried rates on the variant's long-lived,
settled service; each window has an **outcome**:

* ``kept``: the window could hold the percentile (``analysing.tails``: enough requests, a span
  of three of the service's full collections where pauses can set it) and it stayed within the bound, the rate
  kept;
* ``missed``: the rate was not kept (overloaded), or the window could hold the percentile and
  it was beyond the bound;
* ``not measured``: the window could not hold the percentile — no verdict either way.

The answer is a **bracket** over every window of the variant at any rate (search steps,
confirmations, and the equal-load windows, which are windows of the same kind on the same
service): ``low`` is the highest rate kept in every window tried there, ``high`` the lowest
rate above it missed in every window. Between the two lies the edge, where a rate may keep in
one window and miss in another; the bracket is the search's resolution, so it never has zero
width. It is an answer only when it is **stable**: no rate missed below a rate kept (a *swing*:
one window's luck decided, so there is no stable answer and it never enters a ratio). A low
bound at the search's ceiling (the closed-loop capacity: an open-model rate above it cannot be
kept) says so: the objective does not bind below capacity.

**Confirmed** means kept at ``low`` in at least ``CONFIRM_WINDOWS`` windows and missed at a
rate 10–15 % above it (``ABOVE``) in at least as many, every one of them a window that could
hold the percentile. Ratios of two stable answers are the ratio of their low bounds, bounded
by the brackets (``low_a / high_b`` to ``high_a / low_b``): a range from the searches'
resolution, never called a confidence interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chatbench.analysing import openload, tails, toolagreement
from chatbench.storing.record import PauseRecord, RunRecord, SloStep
from loadtests.arrivals import words as arrival_words

KEPT, MISSED, NOT_MEASURED = tails.KEPT, tails.MISSED, tails.NOT_MEASURED
outcome = tails.outcome
CONFIRM_WINDOWS = 2  # windows kept at the found rate and missed above it, at least
ABOVE = (1.10, 1.15)  # the confirming rate above the found one, as a multiple of it
ABOVE_TARGET = 1.125
MAX_BRACKET = 1.15  # the search narrows its bracket until high / low is at most this
_ROUNDING = 0.006  # rates are whole req/s: 1.10 × 91 = 100.1 is tried as 100


@dataclass(frozen=True)
class SloWindow:
    """One window of a variant at one rate, as the answer weighs it."""

    rate: float
    outcome: str
    value_ms: float | None = None
    source: str = "search"  # "search" | "confirm" | "equal load"
    reason: str = ""  # why it could not hold the percentile
    pauses: PauseRecord | None = None
    loadgen_fault: bool = False  # not measured: its load generator fell behind


@dataclass(frozen=True)
class Bracket:
    """Where the objective's edge lies, from a variant's windows (module docstring)."""

    low: float | None  # highest rate kept in every window tried there
    high: float | None  # lowest rate above ``low`` missed in every window tried there
    swing: tuple[float, float] | None  # (a rate missed, a higher rate kept)
    unmeasured: tuple[float, ...]  # rates whose every window could not hold the percentile

    @property
    def stable(self) -> bool:
        return self.low is not None and self.swing is None


def bracket(windows: Sequence[SloWindow]) -> Bracket:
    """The bracket of a variant's windows."""
    by_rate: dict[float, list[str]] = {}
    for w in windows:
        by_rate.setdefault(float(w.rate), []).append(w.outcome)
    judged = {r: [o for o in os if o != NOT_MEASURED] for r, os in by_rate.items()}
    unmeasured = tuple(sorted(r for r, os in judged.items() if not os))
    all_kept = [r for r, os in judged.items() if os and all(o == KEPT for o in os)]
    missed = sorted(r for r, os in judged.items() if MISSED in os)
    any_kept = [r for r, os in judged.items() if KEPT in os]
    swing = None
    for r in missed:
        above = [k for k in any_kept if k > r]
        if above:
            swing = (r, max(above))
            break
    low = max(all_kept) if all_kept else None
    above_low = [
        r for r, os in judged.items()
        if os and all(o == MISSED for o in os) and (low is None or r > low)
    ]  # fmt: skip
    high = min(above_low) if above_low else None
    return Bracket(low, high, swing, unmeasured)


def above_rate(low: float, high: float | None) -> float:
    """The rate 10–15 % above ``low`` at which a confirmation must miss: the search's own high
    bound when it lies there, else 12.5 % above ``low``."""
    if high is not None and ABOVE[0] - _ROUNDING <= high / low <= ABOVE[1] + _ROUNDING:
        return high
    return float(round(low * ABOVE_TARGET))


def _is_above(rate: float, low: float) -> bool:
    return ABOVE[0] - _ROUNDING <= rate / low <= ABOVE[1] + _ROUNDING


@dataclass(frozen=True)
class VariantSlo:
    """One variant's answer: its windows, their bracket, the verdict on it."""

    variant: str
    capacity: float  # the search's ceiling: the closed-loop capacity measured in the run
    windows: tuple[SloWindow, ...]
    bound_ms: float
    percentile: float
    searched: str = ""  # how the search ended, in words (the run's record)

    @property
    def bracket(self) -> Bracket:
        return bracket(self.windows)

    @property
    def at_ceiling(self) -> bool:
        low = self.bracket.low
        return low is not None and low >= self.capacity * (1 - _ROUNDING)

    @property
    def stable(self) -> bool:
        return self.bracket.stable

    def _at(self, rate: float) -> list[SloWindow]:
        return [w for w in self.windows if w.rate == rate and w.outcome != NOT_MEASURED]

    @property
    def above(self) -> tuple[float, list[SloWindow]] | None:
        """The confirming rate above the found one and its judged windows (None: none tried)."""
        low = self.bracket.low
        if low is None:
            return None
        rates = sorted({w.rate for w in self.windows if w.rate > low and _is_above(w.rate, low)})
        best = max(rates, key=lambda r: len(self._at(r)), default=None)
        return None if best is None else (best, self._at(best))

    @property
    def confirmed(self) -> bool:
        """Kept at the found rate and missed 10–15 % above it, each in at least
        ``CONFIRM_WINDOWS`` windows that could hold the percentile (module docstring)."""
        b = self.bracket
        if not b.stable or b.low is None or self.at_ceiling:
            return False
        at_low = self._at(b.low)
        above = self.above
        return (
            len(at_low) >= CONFIRM_WINDOWS
            and all(w.outcome == KEPT for w in at_low)
            and above is not None
            and len(above[1]) >= CONFIRM_WINDOWS
            and all(w.outcome == MISSED for w in above[1])
        )

    @property
    def why_not(self) -> str:
        """Why the variant has no stable answer ("" when it has one)."""
        b = self.bracket
        if b.swing is not None:
            missed, kept = b.swing
            return (
                f"no stable answer: {tails.label(self.percentile)} missed at {missed:,.0f} req/s "
                f"but kept at {kept:,.0f}"
            )
        if b.low is None:
            reasons = sorted(
                {w.reason for w in self.windows if w.outcome == NOT_MEASURED and w.reason}
            )
            missed = sorted({w.rate for w in self.windows if w.outcome == MISSED})
            if not missed:
                return "not measured: " + "; ".join(reasons or ["no window"])
            said = "missed at " + ", ".join(f"{r:,.0f}" for r in missed) + " req/s"
            if b.unmeasured:
                said += (
                    "; not measured at "
                    + ", ".join(f"{r:,.0f}" for r in b.unmeasured)
                    + f" req/s ({'; '.join(reasons)})"
                )
            return f"kept the objective at none of the rates tried ({said})"
        return ""


@dataclass(frozen=True)
class SloRatio:
    """The ratio of two stable answers' found rates, bounded by their brackets."""

    variant: str
    reference: str
    value: float
    low: float  # 0: no lower bound (the reference held at its ceiling)
    high: float  # inf: no upper bound (the variant held at its ceiling)

    def text(self) -> str:
        if math.isinf(self.high) and self.low > 0:
            bounds = f"at least {self.low:.2f}"
        elif self.low <= 0 and math.isfinite(self.high):
            bounds = f"at most {self.high:.2f}"
        elif math.isfinite(self.high):
            bounds = f"between {self.low:.2f} and {self.high:.2f}"
        else:
            bounds = "unbounded"
        return (
            f"{self.variant}/{self.reference} {self.value:.2f}× ({bounds} from the searches' "
            "resolution)"
        )


@dataclass(frozen=True)
class SloAnswer:
    objective: str
    variants: tuple[VariantSlo, ...]
    ratios: tuple[SloRatio, ...]
    sentence: str


def ratio(a: VariantSlo, b: VariantSlo) -> SloRatio | None:
    """``a``'s found rate over ``b``'s, when both are stable answers."""
    ba, bb = a.bracket, b.bracket
    if not (ba.stable and bb.stable) or not ba.low or not bb.low:
        return None
    high_a = math.inf if a.at_ceiling or ba.high is None else ba.high
    high_b = math.inf if b.at_ceiling or bb.high is None else bb.high
    return SloRatio(a.variant, b.variant, ba.low / bb.low, ba.low / high_b, high_a / bb.low)


def pauses_text(windows: Sequence[SloWindow], percentile: float) -> str:
    """What the windows' full collections were, and whether they can set the percentile:
    ``full collections of up to 240 ms paused it 2.9 % of the time, more than the 1 % a p99
    leaves`` (empty when no window recorded pauses)."""
    seen = [w.pauses for w in windows if w.pauses is not None]
    if not seen:
        return ""
    return tails.pause_clause(seen, percentile)


def _window_text(w: SloWindow) -> str:
    return f"{w.value_ms:.1f} ms" if w.value_ms is not None else "–"


def variant_sentence(v: VariantSlo) -> str:
    """One variant's clause of the answer."""
    b = v.bracket
    what = f"{tails.label(v.percentile)} ≤ {v.bound_ms:g} ms"
    if not b.stable:
        text = f"{v.variant}: {v.why_not}"
        tail = pauses_text(v.windows, v.percentile)
        return text + (f" ({tail})" if tail else "")
    assert b.low is not None
    kept = v._at(b.low)
    if v.at_ceiling:
        text = (
            f"{v.variant} holds {what} up to its whole capacity, {b.low:,.0f} req/s (the "
            f"search's ceiling; kept in {len(kept)} window{'s' if len(kept) != 1 else ''})"
        )
    else:
        high = f"{b.high:,.0f}" if b.high is not None else "?"
        text = f"{v.variant} holds {b.low:,.0f} req/s (between {b.low:,.0f} and {high}"
        text += f"; kept in {len(kept)} of {len(kept)} windows there"
        above = v.above
        if above is not None:
            rate, seen = above
            misses = sum(1 for w in seen if w.outcome == MISSED)
            values = ", ".join(_window_text(w) for w in seen)
            text += (
                f", missed at {rate:,.0f} (+{100 * (rate / b.low - 1):.0f} %) in {misses} of "
                f"{len(seen)} ({values})"
            )
        text += f"): {'confirmed' if v.confirmed else 'not confirmed'}"
    tail = pauses_text([w for w in v.windows if w.rate >= b.low], v.percentile)
    return text + (f"; {tail}" if tail else "")


def windows_of(run_dir: Path, record: RunRecord, variant: str, percentile: float,
               bound_ms: float, equal_load: Sequence[openload.RateLatency] = ()) -> tuple[SloWindow, ...]:  # fmt: skip
    """Every window of ``variant`` the answer weighs: the SLO steps, the open-model
    cross-check's windows of both generators (``analysing.toolagreement``) and the equal-load
    windows (same kind, same service), all judged against the same objective."""
    assert record.slo is not None
    out = [_from_step(s) for s in record.slo.steps if s.variant == variant]
    for w, holding in toolagreement.slo_windows(run_dir, record, variant):
        value = w.values.get("slo")
        out.append(SloWindow(w.rate, outcome(value, bound_ms, w.overloaded, holding), value,
                             f"cross-check ({w.generator})", holding.reason, w.pauses))  # fmt: skip
    metric = next((k for k, q in tails.NAMED.items() if q == percentile), None)
    for at in equal_load:
        for v in at.variants:
            if v.variant != variant or metric is None:
                continue
            for w in v.windows:
                value = w.values.get(metric)
                holding = w.holdings.get(metric) or tails.Holding(percentile, False, "no window")
                out.append(SloWindow(at.rate, outcome(value, bound_ms, w.overloaded, holding),
                                     value, "equal load", holding.reason, w.pauses))  # fmt: skip
    return tuple(out)


def _from_step(s: SloStep) -> SloWindow:
    value = float(s.value_ms) if s.value_ms is not None else None
    # An older run's step was judged on its value alone.
    older = MISSED if s.overloaded or not s.passed else KEPT
    result = s.outcome if s.outcome is not None else older
    return SloWindow(float(s.rate), result, value, s.phase or "search", s.reason or "",
                     loadgen_fault=s.loadgen_fault)  # fmt: skip


def slo_answer(run_dir: Path, record: RunRecord) -> SloAnswer | None:
    """The SLO capacity of every variant of a run that searched for it; None otherwise."""
    section = record.slo
    if section is None:
        return None
    percentile, bound = float(section.percentile), float(section.bound_ms)
    what = f"{tails.label(percentile)} ≤ {bound:g} ms"
    if section.skipped:
        return SloAnswer(section.objective, (), (),
                         f"Capacity at {what} not measured: {section.skipped}.")  # fmt: skip
    rates, _ = openload.equal_load(run_dir, record)
    names = list(dict.fromkeys(s.variant for s in section.steps))
    variants = tuple(
        VariantSlo(
            name,
            float(section.capacities.get(name, math.inf)),
            windows_of(run_dir, record, name, percentile, bound, rates),
            bound,
            percentile,
            section.searched.get(name, ""),
        )  # fmt: skip
        for name in names
    )
    ratios = []
    if variants:
        ref = variants[0]
        ratios = [r for v in variants[1:] if (r := ratio(v, ref)) is not None]
    sentence = (
        f"Capacity at {what} (open model, {arrival_words(record.config.arrivals)}, on each "
        "service settled past its start-up collections): "
        + "; ".join(variant_sentence(v) for v in variants)
    )
    for r in ratios:
        sentence += f"; ratio {r.text()}"
    unstable = [v.variant for v in variants if not v.stable]
    if unstable and len(variants) > 1:
        sentence += f"; no ratio with {', '.join(unstable)}"
    return SloAnswer(section.objective, variants, tuple(ratios), sentence + ".")
