"""Which percentiles a measured window can hold.

A tail is a statement about rare events, so the window it comes from must be able to contain
them. Two things decide it, per window:

* **enough requests**: a percentile q rests on the slowest ``(1 − q)`` of the window's
  requests; with fewer than ``SAMPLES_PER_TAIL / (1 − q)`` (10 / (1 − q)) requests it rests on
  fewer than ten of them, and a p99.9 from the 2nd-slowest of 800 requests is a single event,
  not a percentile;
* **a span that holds the service's pause cycle**, where pauses can set the percentile: the
  services pause for full (generation-2) garbage collections every few seconds to every few
  tens of seconds, each for tens to hundreds of ms (``scripts/gc_pauses.py``). A window shorter
  than that cycle holds one pause or none by chance, so the same rate keeps or misses an
  objective by luck. The window must hold at least ``PAUSE_INTERVALS`` (3) of the service's full
  collections (a collection in any of its processes counts): its span is then that many of the
  service's intervals, as the window measures them (span / collections; a median of gaps would
  take two workers collecting in the same millisecond for a cycle of a millisecond). A service
  that ran no full collection at all over its whole life under load (``quiet_s``) has a cycle
  of none. Where the service's collections come rarer than a long window, the window holds the
  percentile when even ``PAUSE_INTERVALS`` collections in its span, each as long as the longest
  the service has run, could not set it (``configuration.windows.pauses_rarer_than_window``).
  Pauses can set a percentile when the service's full collections, over its life so
  far, paused it for a share of its time that, reached twice over (the requests held up and
  those queued behind them), is at least the share of requests beyond it
  (``configuration.windows.needs_pause_span``): with pauses 1 % of the time, a p99 needs the
  span and a p95 does not.

A service that records no pauses (an external target, a service of your own without the
hook) has its windows judged on requests alone, and the answer says the span was not
checked. Pure functions: the run's loader builds ``WindowFacts`` from the record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chatbench.configuration.windows import (
    PAUSE_INTERVALS,
    needs_pause_span,
    pauses_rarer_than_window,
    samples_needed,
)
from chatbench.storing.record import PauseRecord

# The percentiles the open-model answers report, as chatbench names them.
NAMED = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "p99_9": 99.9}
# A window's outcome for a latency objective (``outcome``).
KEPT, MISSED, NOT_MEASURED = "kept", "missed", "not measured"


def label(percentile: float) -> str:
    """``p99.9`` for 99.9."""
    return f"p{percentile:g}"


@dataclass(frozen=True)
class WindowFacts:
    """What a window's record says about it: successful measured requests, its span, the full
    collections the service recorded in it (``recorded`` False: the service records no
    pauses), and the share of its time the service's full collections paused it over its life
    up to the window's end."""

    requests: int
    span_s: float
    full_collections: int = 0
    recorded: bool = True
    quiet_s: float | None = None  # seconds under load with no full collection at all, if none ran
    life_paused_share: float | None = None  # the service's paused share over its life so far
    life_longest_ms: float | None = None  # its longest full collection while serving, so far


@dataclass(frozen=True)
class Holding:
    """Whether a window (or a set of windows) can hold a percentile, and why not in words."""

    percentile: float
    ok: bool
    reason: str = ""  # empty when ok
    span_checked: bool = True
    # When short of requests: the most a window held, and how many the percentile needs (a
    # caller merging several variants' reasons reads these, not the sentence).
    seen: int | None = None
    needed: int | None = None

    @property
    def not_measured(self) -> str:
        """``p99.9 not measured: …`` (empty when it holds)."""
        return "" if self.ok else f"{label(self.percentile)} not measured: {self.reason}"


def holds(percentile: float, window: WindowFacts) -> Holding:
    """Whether one window can hold ``percentile`` (see the module docstring)."""
    need = samples_needed(percentile)
    if window.requests < need:
        return Holding(
            percentile,
            False,
            f"{window.requests:,} requests in a window, {need:,} needed",
            seen=window.requests,
            needed=need,
        )
    if not window.recorded:
        return Holding(percentile, True, span_checked=needs_pause_span(percentile) is False)
    if not needs_pause_span(percentile, window.life_paused_share):
        return Holding(percentile, True)
    if window.full_collections == 0 and window.quiet_s is not None:
        return Holding(percentile, True)  # no pause cycle at all under load
    if window.full_collections < PAUSE_INTERVALS and not pauses_rarer_than_window(
        percentile, window.span_s, window.life_longest_ms
    ):
        k = window.full_collections
        return Holding(
            percentile,
            False,
            f"{window.span_s:.1f} s windows held {k} full collection{'' if k == 1 else 's'}, "
            f"{PAUSE_INTERVALS} needed to span the service's pause cycle",
        )
    return Holding(percentile, True)


def holds_in(percentile: float, windows: Sequence[WindowFacts]) -> tuple[list[bool], Holding]:
    """Per window, whether it holds ``percentile``; and the verdict on the set: it holds when
    at least one window does (the figure then comes from those only), else the first reason,
    stated for the set (the shortest window's span and the widest interval say the most)."""
    each = [holds(percentile, w) for w in windows]
    flags = [h.ok for h in each]
    if any(flags):
        checked = all(h.span_checked for h, ok in zip(each, flags, strict=True) if ok)
        return flags, Holding(percentile, True, span_checked=checked)
    if not windows:
        return flags, Holding(percentile, False, "no window")
    short_of_requests = [w for w in windows if w.requests < samples_needed(percentile)]
    if short_of_requests:
        most = max(w.requests for w in short_of_requests)
        need = samples_needed(percentile)
        return flags, Holding(
            percentile,
            False,
            f"at most {most:,} requests in a window, {need:,} needed",
            seen=most,
            needed=need,
        )
    return flags, next(h for h in each if not h.ok)


def outcome(value_ms: float | None, bound_ms: float, overloaded: bool, holding: Holding) -> str:
    """A window's outcome for an objective: ``missed`` when it did not keep the rate, or could
    hold the percentile and it was beyond the bound; ``kept`` when it could hold it and it was
    within; ``not measured`` when it could not hold it (no verdict either way)."""
    if overloaded:
        return MISSED
    if not holding.ok or value_ms is None or not math.isfinite(value_ms):
        return NOT_MEASURED
    return KEPT if value_ms <= bound_ms else MISSED


def pause_clause(pauses: Sequence[PauseRecord], percentile: float) -> str:
    """What a set of windows' full collections were, and whether they can set ``percentile``:
    ``full collections of up to 240 ms (2–5 a window) paused it 0.7 % of the time; twice that,
    with the queue behind them, reaches the 1 % a p99 leaves``. A pause holds up
    the requests that reach the paused process while it lasts and those queued behind them, so
    when the paused share of process time, reached ``PAUSE_REACH`` times over, is at least the
    share of requests beyond the percentile, the collections alone can set it: the rule
    ``holds`` judges a window's span by (``windows.needs_pause_span``)."""
    if not pauses:
        return ""
    counts = [p.full for p in pauses]
    if not any(counts):
        return "no full collection in its windows"
    longest = max(float(p.full_longest_ms) for p in pauses)
    share = sum(float(p.paused_share) for p in pauses) / len(pauses)
    beyond = 1 - percentile / 100
    spread = f"{min(counts)}–{max(counts)}" if min(counts) != max(counts) else f"{counts[0]}"
    text = (
        f"full collections of up to {longest:,.0f} ms ({spread} a window) paused it "
        f"{100 * share:.1f} % of the time"
    )
    leaves = f"the {100 * beyond:g} % a {label(percentile)} leaves"
    if needs_pause_span(percentile, share):
        return text + f"; twice that, with the queue behind them, reaches {leaves}"
    return text + f"; twice that stays under {leaves}"


def facts(requests: int, span_s: float, pauses: PauseRecord | None) -> WindowFacts:
    """A window's facts from its request count, span and recorded pauses (None: not recorded)."""
    if pauses is None:
        return WindowFacts(requests, span_s, recorded=False)
    quiet = float(pauses.quiet_s) if pauses.quiet_s is not None else None
    share = float(pauses.life_paused_share) if pauses.life_paused_share is not None else None
    longest = float(pauses.life_longest_ms) if pauses.life_longest_ms is not None else None
    return WindowFacts(requests, span_s, pauses.full, True, quiet, share, longest)
