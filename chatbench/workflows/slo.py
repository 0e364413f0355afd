"""Capacity under a latency objective (``chatbench run --slo p99=50ms``): the search, planned.

The question: how much traffic can each variant carry while the chosen percentile of its
latency (from the intended send time) stays within the objective AND it keeps the offered
rate (``load.openloop``: not overloaded)? Per variant, the highest such open-model rate.

How it is estimated, and why so:

* **A search per round.** The pass/fail of one short window is noisy (a 2 s window at a few
  hundred req/s holds a few hundred latencies; its p99 rests on a handful of them), so one search
  gives one noisy answer. The search is therefore repeated ``ROUNDS`` (3) times, interleaved
  across variants (round 1: A then B, round 2: B then A, …) so that drift of the machine hits
  every variant alike, and the answer is the geometric mean of the found rates with its 95 % t
  interval on the logs (``stats.interval``; ``stats.ratio_interval`` for the ratio of two
  variants). The interval says how repeatable the search is on this machine, which is the
  uncertainty a reader needs.
* **One search:** bracket from the capacity this run measured (the closed-loop throughput: an
  open-model rate above it cannot be kept): start at ``START`` (½) of it; passing there, try the
  capacity itself (passing again ends the search there); failing, divide by 4 until a rate
  passes (or the objective is out of reach below ``FLOOR``, 2 % of the capacity: found 0).
  Then ``BISECTIONS`` (4) geometric bisections narrow the bracket to 2^(1/16) (4.4 %) from a
  2× bracket, 4^(1/16) (9 %) from a 4× one. The found rate is the highest rate that passed.
* **Windows:** every step and confirmation is a window of the equal-load phase's shape (the
  profile's ``equal_load_warmup`` + ``equal_load_duration``; see ``measuring.schedule``),
  whose warm-up runs closed-loop when it is 1 s or longer (loadtests' locustfile
  ``_burst_end``), so the rate tried does not decide when a fresh service's first requests
  fall.
* **Confirming windows:** each variant is then measured ``CONFIRMATIONS`` (3) times at its
  found rate (the geometric mean of its searches), in the same windows, so the answer
  shows the percentile actually reached there, with its interval, and whether those windows
  kept the objective (``analysing.slo``: confirmed, at the edge, or NOT confirmed).

Each search step is a repetition (clone, start, load, integrity check) of the run directory
``slo/search/`` (its rate in its ``repetitions[]`` entry); the confirmations are
``slo/confirm/`` (every variant at its own rate: each repetition entry says which). Neither is
judged by the interleaving rule (a search's steps follow its verdicts, not A B, B A); every other
fairness rule and the integrity check apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from chatbench.configuration.profiles import slo_parts
from chatbench.measuring import schedule

ROUNDS = schedule.SLO_ROUNDS
START = 0.5
FLOOR = 0.02
BISECTIONS = 4
CONFIRMATIONS = schedule.SLO_CONFIRMATIONS
SEARCH_DIR = "slo/search"
# The fairness rule a search's steps break by design (they follow the verdicts, not A B, B A).
NOT_INTERLEAVED = "warmup_excluded_interleaved"
CONFIRM_DIR = "slo/confirm"


@dataclass
class Search:
    """One search for one variant: feed it each step's verdict, ask for the next rate."""

    capacity: float
    lo: float | None = None  # highest rate that passed
    hi: float | None = None  # lowest rate that failed
    bisections: int = 0
    tried: list[tuple[float, bool]] = field(default_factory=list)

    def next_rate(self) -> float | None:
        """The next rate to try; None when the search is over."""
        if not self.tried:
            return self._rounded(START * self.capacity)
        if self.lo is None:  # nothing passed yet: go down by 4 until something does
            below = self.hi / 4 if self.hi is not None else START * self.capacity
            return None if below < FLOOR * self.capacity else self._rounded(below)
        if self.hi is None:  # everything passed so far: the capacity is the ceiling
            if self.lo < self.capacity:
                return self._rounded(self.capacity)
            return None
        if self.bisections >= BISECTIONS:
            return None
        mid = self._rounded(math.sqrt(self.lo * self.hi))
        return mid if self.lo < mid < self.hi else None

    def observe(self, rate: float, passed: bool) -> None:
        if self.lo is not None and self.hi is not None:
            self.bisections += 1
        self.tried.append((rate, passed))
        if passed:
            self.lo = max(rate, self.lo or 0.0)
        else:
            self.hi = min(rate, self.hi if self.hi is not None else math.inf)

    @property
    def found(self) -> float:
        """The highest rate that kept the objective; 0 when none did."""
        return self.lo or 0.0

    @staticmethod
    def _rounded(rate: float) -> float:
        return float(max(1, round(rate)))


def objective(slo: str) -> tuple[float, float]:
    """(percentile, bound in ms) of a canonical objective like ``p99=50ms``."""
    return slo_parts(slo)


def passes(value_ms: float, bound_ms: float, overloaded: bool) -> bool:
    """A step passes when its percentile is within the bound and it kept the offered rate."""
    return math.isfinite(value_ms) and value_ms <= bound_ms and not overloaded
