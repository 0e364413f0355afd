"""Did an open-model (rate mode) repetition keep its promise? Target vs achieved rate, dropped sends.

Rate mode sends on a fixed schedule and measures every latency from the intended send time
(``loadtests/locustfile.py``). That promise holds only while the service keeps up: a service
slower than the offered rate makes the users fall behind, sends go out late and, at the end of
the window, some intended sends never went out at all (counted as ``dropped`` in
``requests.json``, as k6 counts ``dropped_iterations``). Such a repetition is *overloaded*: its
achieved rate is below the target and its latency is a lower bound (the requests never sent
would have waited longer still), so it is never compared as if the service had kept up.

The rule (``verdict``): a repetition is overloaded when its achieved rate (the sends that went
out on time, scaled to the target by the schedule's own count of sends due in the window) is
more than ``RATE_TOLERANCE`` (2 %) under the target, or when any send was dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbench.load.latency import RequestsDocument

RATE_TOLERANCE = 0.02


@dataclass(frozen=True)
class RateVerdict:
    """One rate-mode repetition: what was asked, what was carried, what never went out."""

    target_rate: float
    achieved_rate: float
    dropped: int
    behind_schedule: int

    @property
    def shortfall(self) -> float:
        """How far under the target the achieved rate was, as a fraction (0 at or above it)."""
        return max(0.0, 1.0 - self.achieved_rate / self.target_rate)

    @property
    def overloaded(self) -> bool:
        return self.shortfall > RATE_TOLERANCE or self.dropped > 0

    def describe(self) -> str:
        """``achieved 312.4 of 400 req/s (-21.9 %), 350 sends dropped``."""
        text = f"achieved {self.achieved_rate:,.1f} of {self.target_rate:,.4g} req/s"
        if self.shortfall > 0:
            text += f" (-{100 * self.shortfall:.1f} %)"
        return text + (f", {self.dropped:,} sends dropped" if self.dropped else "")


def verdict(doc: RequestsDocument) -> RateVerdict | None:
    """The verdict on a ``requests.json`` document; None when it was not a rate-mode load.

    The achieved rate is the sends that went out on time (due in the measured window and sent
    before it closed) per second of the window; the target it is held against is the rate the
    users' schedule actually put into the window (its ``scheduled`` sends, exact whatever each
    user's phase), so a 4-second window is not judged by its users' rounding. A document
    without a schedule count (older runs) falls back to completions / seconds vs the rate.
    """
    target = doc.target_rate
    if doc.mode != "rate" or target is None or target <= 0:
        return None
    return judge(float(target), doc.duration_s, scheduled=doc.scheduled,
                 sent_on_time=doc.sent_on_time, dropped=doc.dropped,
                 behind_schedule=doc.behind_schedule, completed=doc.completed)  # fmt: skip


def judge(target_rate: float, duration_s: float, *, scheduled: int, sent_on_time: int,
          dropped: int, behind_schedule: int, completed: int) -> RateVerdict:  # fmt: skip
    """The rule of the module docstring on one window's schedule counts, whichever generator
    kept them (Locust's ``requests.json``, the open-model generator's file)."""
    if scheduled > 0 and duration_s > 0:
        achieved = target_rate * sent_on_time / scheduled
    else:
        achieved = completed / duration_s if duration_s > 0 else 0.0
    return RateVerdict(target_rate=target_rate, achieved_rate=achieved, dropped=dropped,
                       behind_schedule=behind_schedule)  # fmt: skip


def users_for(rate: float, budget_s: float) -> int:
    """Locust users for an open-model load of ``rate`` req/s: each user sends every
    ``users / rate`` seconds with one request in flight, so a response slower than that holds
    back its next send. ``rate × budget_s`` users keep the schedule as long as every response
    takes less than ``budget_s`` (the stated latency budget); at least 2."""
    return max(2, int(-(-rate * budget_s // 1)))
