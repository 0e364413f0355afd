"""When a rate-mode user sends: the arrival process, one stated setting (``--arrivals``).

Locust's rate mode splits a total rate R over U users, each sending on its own schedule. How
those schedules line up decides the tail a service shows at R, so it is a setting, recorded in
the run record and named in the report, and the open-model generator (loadtests/openmodel)
offers the same two:

``even`` (the default): the users' sends interleave on one wall-clock grid, so together they
    arrive every 1/R s. User k of U sends at the times ``k / R + j * I`` (epoch seconds, interval
    I = U / R, j an integer) from its start on: the grid is the epoch's, so users that start at
    different moments, or in different Locust processes, still interleave. With P processes,
    user n of process w is taken as user n·P + w (``--chatbench-user-processes``), which holds
    when every process runs the same number of users: the harness refuses rate mode with
    users that do not divide among its processes. Every service and every repetition is offered
    exactly the same load, so a tail that differs comes from the service.
``poisson``: each user sends after exponentially distributed gaps of mean I (its own seeded
    generator), so together they form a Poisson process of rate R: the bursts of many
    independent clients. Tails are higher than with ``even`` at the same rate (a queue forms
    even at an ideal server). The gaps are seeded per user, so every window of a run replays
    the same ones (common random numbers: each variant meets the same bursts), and an
    interval over repetitions leaves out the variance from one set of bursts to another. A
    user holds one connection, so a gap shorter than its last response waits for it, and the
    wait counts as latency (from the intended time): at the server the arrivals are a little
    smoother than Poisson.

What ``even`` replaced: a random phase per user and a fixed interval. Its sends repeat one
random, clustered pattern every interval, set by the seed and by when each user started; at the
same rate its p99 was up to 7× the open-model generator's, which sent evenly spaced, on the same
service (docs/crosscheck.md, measured).

A schedule also counts how many of its sends fell in a window (the recorder's ``scheduled``,
against which ``dropped`` is judged), exactly, whatever the process.
"""

from __future__ import annotations

import bisect
import math
import random

ARRIVALS = ("even", "poisson")
DEFAULT_ARRIVALS = "even"
# How reports name each; a run recorded before the choice sent from random phases.
WORDS = {"even": "evenly spaced arrivals", "poisson": "Poisson arrivals"}
BEFORE_THE_CHOICE = "random-phase arrivals"


def words(arrivals: str | None) -> str:
    """``evenly spaced arrivals``: how a report names a run's arrival process (None: a run
    recorded before there was a choice)."""
    return WORDS.get(arrivals or "", BEFORE_THE_CHOICE)


class EvenSchedule:
    """Sends at ``first``, ``first + interval``, ... ."""

    def __init__(self, first: float, interval: float) -> None:
        if not interval > 0:
            raise ValueError("an arrival interval must be > 0")
        self.first = first
        self.interval = interval
        self._claimed = 0

    def claim(self) -> float:
        """The next intended send time (each is claimed once); ``first + n * interval``, not a
        running sum, so hours of epoch-sized times gather no rounding."""
        intended = self.peek()
        self._claimed += 1
        return intended

    def peek(self) -> float:
        return self.first + self._claimed * self.interval

    def count_between(self, start: float, end: float) -> int:
        """Intended sends t with start <= t < end."""

        def before(t: float) -> int:
            return max(0, math.ceil((t - self.first) / self.interval - 1e-9))

        return max(0, before(end) - before(start))


class PoissonSchedule:
    """Sends after independent exponential gaps of mean ``interval``, from ``start``."""

    def __init__(self, start: float, interval: float, rng: random.Random) -> None:
        if not interval > 0:
            raise ValueError("an arrival interval must be > 0")
        self.interval = interval
        self._rng = rng
        self._times = [start + rng.expovariate(1.0 / interval)]
        self._claimed = 0

    def _draw(self) -> None:
        self._times.append(self._times[-1] + self._rng.expovariate(1.0 / self.interval))

    def _extend_past(self, t: float) -> None:
        while self._times[-1] < t:
            self._draw()

    def claim(self) -> float:
        intended = self.peek()
        self._claimed += 1
        return intended

    def peek(self) -> float:
        if self._claimed == len(self._times):
            self._draw()
        return self._times[self._claimed]

    def count_between(self, start: float, end: float) -> int:
        """Intended sends t with start <= t < end (drawing the schedule on to ``end``)."""
        self._extend_past(end)
        return max(0, bisect.bisect_left(self._times, end) - bisect.bisect_left(self._times, start))


Schedule = EvenSchedule | PoissonSchedule


def schedule(
    arrivals: str, *, rate: float, users: int, index: int, now: float, rng: random.Random
) -> Schedule:
    """User ``index`` (0-based, of ``users``)'s schedule for a total ``rate`` from ``now``.

    ``rng`` is the user's own arrival generator (only ``poisson`` draws from it), separate from
    the one that draws its requests, so the arrival process never changes what is sent."""
    if arrivals not in ARRIVALS:
        raise ValueError(f"arrivals {arrivals!r} is not one of {', '.join(ARRIVALS)}")
    if not (rate > 0 and users >= 1):
        raise ValueError("a rate schedule needs rate > 0 and at least one user")
    interval = users / rate
    if arrivals == "poisson":
        return PoissonSchedule(now, interval, rng)
    phase = (index % users) / rate  # on the epoch's grid, so any start interleaves
    return EvenSchedule(phase + math.ceil((now - phase) / interval) * interval, interval)
