"""The rule a window must meet to hold a tail, in three numbers, and what it asks of a window.

``analysing.tails`` judges measured windows by it; a long-lived service's open-model window ends
by it (``measuring.live.TailWindowEnd``); and ``RunConfig.validate`` refuses, before any load, an
objective no window the run can run could hold. Why these numbers: ``analysing.tails``.
"""

from __future__ import annotations

import math

SAMPLES_PER_TAIL = 10  # a percentile q needs ≥ 10 / (1 − q) requests per window
# A kept-or-missed verdict on an objective, near its bound, rests on at least this many
# requests beyond the percentile: on ten, one window's luck moved a p99 from 30 to 54 ms at one
# rate (Django at 156–176 req/s, 2026-12-07), so the search's windows hold five times as many.
VERDICT_SAMPLES_PER_TAIL = 50
# … and, where pauses can set it, a window that spans the service's pause cycle: at least this
# many of its full collections (any process), so its span is this many of its intervals.
PAUSE_INTERVALS = 3
# Pauses can set a percentile when they hold up at least its share of requests: a pause holds
# the requests that reach the paused process while it lasts and those queued behind them, so
# the paused share of process time is counted twice (``PAUSE_REACH``) against 1 − q.
PAUSE_REACH = 2.0
# Before a service has shown its pause share (no pause log), a percentile from the 90th up.
TAIL_FROM = 90.0
# What one Locust process sends at most (FastHttpUser, ~5k req/s per core: DESIGN.md's
# "Measurement truth"): the highest rate a window can be offered per load-generator process.
LOADGEN_RATE_PER_PROCESS = 5000.0


def samples_needed(percentile: float) -> int:
    """Requests a window needs for ``percentile`` to rest on at least ten of its slowest."""
    if not 0 < percentile < 100:
        raise ValueError(f"a percentile lies strictly between 0 and 100, not {percentile!r}")
    return math.ceil(round(SAMPLES_PER_TAIL / (1 - percentile / 100), 6))


def verdict_samples_needed(percentile: float) -> int:
    """Requests an SLO window needs for its kept-or-missed verdict (``VERDICT_SAMPLES_PER_TAIL``
    beyond the percentile)."""
    return max(
        samples_needed(percentile),
        math.ceil(round(VERDICT_SAMPLES_PER_TAIL / (1 - percentile / 100), 6)),
    )


def needs_pause_span(percentile: float, paused_share: float | None = None) -> bool:
    """Whether a window must span the service's pause cycle to hold ``percentile``: when the
    service's full collections, over its life so far, paused it for a share of its time that
    (reached twice over) is at least the share of requests beyond the percentile; without that
    share known, for a percentile from the 90th up."""
    if paused_share is None:
        return percentile >= TAIL_FROM
    return PAUSE_REACH * paused_share >= 1 - percentile / 100


def pauses_rarer_than_window(percentile: float, span_s: float, longest_ms: float | None) -> bool:
    """Whether a window too short for ``PAUSE_INTERVALS`` of the service's full collections
    can still hold ``percentile``: it can when even that many collections in its span, each as
    long as the longest the service has run (``longest_ms``), would pause it for less than the
    percentile's share (reached ``PAUSE_REACH`` times over). A service whose collections come
    rarer than a long window does not make every window "not measured" then: with pauses of up
    to 85 ms, a 60 s window holds a p99 (2 × 3 × 85 ms / 60 s = 0.85 % < 1 %), a 30 s one not."""
    if longest_ms is None or not span_s > 0:
        return False
    return not needs_pause_span(percentile, PAUSE_INTERVALS * longest_ms / 1000 / span_s)


def refusal(percentile: float, *, longest_window_s: float, highest_rate: float) -> str:
    """Why windows of at most ``longest_window_s`` at up to ``highest_rate`` req/s cannot
    hold ``percentile`` ("" when they can): the best any window could do, known before load."""
    need = samples_needed(percentile)
    most = longest_window_s * highest_rate
    if most < need:
        return (
            f"p{percentile:g} needs {need:,} requests per window; windows of at most "
            f"{longest_window_s:g} s at up to {highest_rate:,.0f} req/s hold {most:,.0f}"
        )
    return ""
