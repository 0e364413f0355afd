"""How long an open-model window must be: long enough to hold its tail and its pause cycle.

A window of a long-lived service (``measuring.live``) is judged afterwards by
``analysing.tails``: enough requests for the percentile, and a span of three of the service's
full-collection intervals. So the run sizes each window before it starts, from what the
service's earlier windows showed: its full collections come every ``interval`` seconds at
``rate`` req/s, and the interval shrinks as the rate grows (the heap fills with what the
requests leave behind), so at another rate it is expected at ``interval × rate / new rate``.
A window is the longest of: the shortest window (``equal_load_duration``), ``MARGIN`` × three
expected intervals of every variant measured at that rate, and ``MARGIN`` × the requests the
percentile needs at that rate; at most ``window_max``, rounded up to half a second. Planned
from measurements, checked again afterwards: a window that still falls short says so in the
answer instead of publishing its tail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from chatbench.configuration.windows import PAUSE_INTERVALS, samples_needed
from chatbench.serving.pauses import WindowPauses

MARGIN = 1.2


@dataclass
class WindowPlanner:
    """The pause intervals seen so far per variant, and the window lengths they call for."""

    seen: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # (rate, interval)

    def observe(self, variant: str, rate: float, pauses: WindowPauses) -> None:
        """A window of ``variant`` at ``rate`` req/s showed these pauses."""
        if pauses.full_interval_s and rate > 0:
            self.seen.setdefault(variant, []).append((rate, float(pauses.full_interval_s)))

    def interval_at(self, variant: str, rate: float) -> float | None:
        """The full-collection interval expected at ``rate``: from the window measured at the
        nearest rate (in ratio), scaled by the rate; None before any was seen."""
        seen = self.seen.get(variant)
        if not seen or rate <= 0:
            return None
        near, interval = min(seen, key=lambda s: abs(math.log(s[0] / rate)))
        return interval * near / rate

    def seconds(self, variants: list[str], rate: float, percentile: float, *,
                shortest: float, longest: float) -> float:  # fmt: skip
        """The window for every one of ``variants`` at ``rate`` (the same for all: they are
        compared), sized to hold ``percentile`` (module docstring)."""
        need = max(shortest, MARGIN * samples_needed(percentile) / rate)
        for variant in variants:
            interval = self.interval_at(variant, rate)
            if interval is not None:
                need = max(need, MARGIN * PAUSE_INTERVALS * interval)
        return min(longest, math.ceil(need * 2) / 2)
