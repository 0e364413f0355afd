"""The rule a window must meet to hold a tail, in two numbers, and what it asks of a window.

``analysing.tails`` judges measured windows by it; the run sizes its open-model windows by it
(``workflows.phases.windows``) and refuses, before any load, an objective no window it can
run could hold (``RunConfig.validate``). Why these numbers: ``analysing.tails``.
"""

from __future__ import annotations

import math

SAMPLES_PER_TAIL = 10  # a percentile q needs ≥ 10 / (1 − q) requests per window
PAUSE_INTERVALS = 3  # and, a tail, a span of ≥ 3 of the service's full-collection intervals
# From which percentile pauses can set it: a full collection pauses a service a few per cent of
# its time (at most 6 % measured, 2026-12-07), so a percentile below the 90th rests on requests
# no pause touched, and only the request count is asked of its window.
TAIL_FROM = 90.0
# What one Locust process sends at most (FastHttpUser, ~5k req/s per core: DESIGN.md's
# "Measurement truth"): the highest rate a window can be offered per load-generator process.
LOADGEN_RATE_PER_PROCESS = 5000.0


def samples_needed(percentile: float) -> int:
    """Requests a window needs for ``percentile`` to rest on at least ten of its slowest."""
    if not 0 < percentile < 100:
        raise ValueError(f"a percentile lies strictly between 0 and 100, not {percentile!r}")
    return math.ceil(round(SAMPLES_PER_TAIL / (1 - percentile / 100), 6))


def needs_pause_span(percentile: float) -> bool:
    """Whether a window must span the service's pause cycle to hold ``percentile``."""
    return percentile >= TAIL_FROM


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
