"""Load-generator health: did Locust keep up during the measured window?

Judged on two things (``LoadgenHealth``), the one rule behind a repetition's ``invalid``
mark, the report's Warnings and the fairness rule ``loadgen_headroom``:

* the busy share of the whole load-generator CPU set (the CPUs Locust is pinned to, else every
  CPU it may use), read from the OS per CPU (``CpuSetSampler``, every 0.5 s while Locust runs):
  every process on those CPUs counts (each Locust process, Postgres, Valkey, the other side of
  a duet, anything else). Locust's own CPU share hides a shared core: two processes at 50 %
  each of a 100 %-busy core look idle one by one;
* each Locust process's event-loop lag (measured by ``loadtests/recorder.py``, merged by
  ``chatbench.load.latency``): a loop that wakes late delays sends and reads, and inflates latency,
  even when no CPU is full.

Locust workers on other machines (``loadgen-worker``) send their loop lag with their request
files, but the CPU set read is this machine's: their own CPUs are judged by the lag alone.

Pure functions and small frozen dataclasses, but for ``CpuSetSampler``, which reads the OS.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from chatbench.load.latency import RequestsDocument

# The health rule (see LoadgenHealth). Above BUSY_LIMIT_PCT busy, a runnable Locust waits for
# a CPU often enough to queue sends and reads behind it (Locust warns at the same 90 %).
BUSY_LIMIT_PCT = 90.0
BUSY_STRETCH_S = 5.0
SERIES_MIN_S = 0.2
LOOP_LAG_LIMIT_MS = 10.0
# A saturated set is the database's work when Postgres ran at least this share of what the set
# ran besides the load generator.
DATABASE_SHARE = 0.5
# A loop late only because Postgres held the shared core (the generator yields to it,
# SCHED_IDLE) is the database's cost too, up to this p99: beyond it the figures would be
# mostly the generator's wait.
ATTRIBUTED_LAG_LIMIT_MS = 50.0


@dataclass(frozen=True)
class CpuSetBusy:
    """How busy the load-generator CPU set was over a measured window (% of the whole set:
    100 % = every CPU of the set busy all the time). NaN when the samples do not cover the
    window. ``series`` is (seconds since the window's start at the end of a sampling interval,
    busy % over that interval), one pair per interval inside the window. ``stretch_s`` is the
    length of the stretch judged: BUSY_STRETCH_S, or the whole window when that is shorter.

    The rule judges ``busiest_pct``, the busiest ``stretch_s`` seconds (the whole window when
    it is shorter), not the window's mean: a saturated stretch inflates the latencies recorded
    in it, and a long window's mean would hide it (10 s of 100 % in a 60 s run at 40 % averages
    50 %). Five seconds is ten 0.5 s samples and 500 ticks of the kernel's 100 Hz CPU
    accounting per CPU: a lone burst (a garbage collection, a checkpoint) of 0.25 s moves it by
    at most 5 points, while saturation that lasts long enough to matter shows in full.
    ``mean_pct`` is kept as a description only.
    """

    cpus: tuple[int, ...]
    mean_pct: float
    busiest_pct: float
    busiest_from_s: float
    stretch_s: float
    series: tuple[tuple[float, float], ...] = ()

    @property
    def measured(self) -> bool:
        return math.isfinite(self.busiest_pct)

    def as_dict(self) -> dict[str, Any]:
        def num(x: float, digits: int = 1) -> float | None:
            return round(x, digits) if math.isfinite(x) else None

        return {
            "cpus": list(self.cpus),
            "busy_pct": num(self.busiest_pct),
            "busiest_from_s": num(self.busiest_from_s, 2),
            "stretch_s": self.stretch_s,
            "mean_pct": num(self.mean_pct),
            "series": [[round(t, 2), round(p, 1)] for t, p in self.series],
        }


def cpu_set_busy(
    walls: Sequence[float],
    busy_s: Sequence[float],
    total_s: Sequence[float],
    start: float,
    end: float,
    *,
    cpus: Sequence[int] = (),
    stretch_s: float = BUSY_STRETCH_S,
) -> CpuSetBusy:
    """Busy share of a CPU set over ``[start, end]`` from cumulative samples.

    ``walls`` are epoch seconds (the clock of requests.json's window), ``busy_s`` and
    ``total_s`` the set's busy and total CPU seconds so far at each sample (summed over its
    CPUs). Between samples the counters are interpolated linearly, so the window's edges need
    not fall on a sample. The busiest stretch is exact for that interpolation: the busy share
    of a stretch is a ratio of two piecewise-linear functions of its start, so its maximum lies
    where a stretch starts or ends on a sample, or at the window's edges.
    """
    t = np.asarray(walls, dtype=float)
    b = np.asarray(busy_s, dtype=float)
    c = np.asarray(total_s, dtype=float)
    nan = CpuSetBusy(tuple(cpus), math.nan, math.nan, math.nan, stretch_s)
    if len(t) < 2 or not end > start:
        return nan
    lo, hi = max(start, float(t[0])), min(end, float(t[-1]))
    # A window the samples cover less than half of is not judged on the part they saw.
    if hi - lo < 0.5 * (end - start):
        return nan

    def share(a: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
        cap = np.interp(z, t, c) - np.interp(a, t, c)
        used = np.interp(z, t, b) - np.interp(a, t, b)
        return np.where(cap > 0, 100.0 * used / np.where(cap > 0, cap, 1.0), np.nan)

    span = min(stretch_s, hi - lo)
    starts = np.concatenate([[lo, hi - span], t, t - span])
    starts = starts[(starts >= lo - 1e-9) & (starts <= hi - span + 1e-9)]
    shares = share(starts, starts + span)
    best = int(np.nanargmax(shares)) if np.isfinite(shares).any() else None
    # The series: each sampling interval clipped to the window; a clipped sliver at an edge
    # is left out (a few scheduler ticks say little about a share).
    edges = np.unique(np.concatenate([[lo, hi], t[(t > lo) & (t < hi)]]))
    begins, ends = edges[:-1], edges[1:]
    steps = share(begins, ends)
    keep = (ends - begins >= SERIES_MIN_S) & np.isfinite(steps)
    return CpuSetBusy(
        cpus=tuple(cpus),
        mean_pct=float(share(lo, hi)),
        busiest_pct=float(shares[best]) if best is not None else math.nan,
        busiest_from_s=float(starts[best] - start) if best is not None else math.nan,
        stretch_s=round(float(span), 1),
        series=tuple(
            (float(z - start), float(p)) for z, p in zip(ends[keep], steps[keep], strict=True)
        ),
    )


@dataclass(frozen=True)
class LoopLag:
    """How late the Locust processes' event loops woke a sleeping probe over the measured
    window (``requests.json`` ``loop_lag``): the worst process's p99 and the highest single
    lag of any process, in ms; None when no process recorded it."""

    interval_ms: float | None
    count: int
    worst_process_p99_ms: float | None
    max_ms: float | None

    @classmethod
    def from_requests(cls, doc: RequestsDocument) -> LoopLag:
        lag = doc.loop_lag
        if lag is None:
            return cls(interval_ms=None, count=0, worst_process_p99_ms=None, max_ms=None)
        return cls(
            interval_ms=lag.interval_ms,
            count=lag.count,
            worst_process_p99_ms=lag.worst_process_p99_ms,
            max_ms=lag.max_ms,
        )

    @property
    def measured(self) -> bool:
        return self.count > 0 and self.worst_process_p99_ms is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "interval_ms": self.interval_ms,
            "count": self.count,
            "worst_process_p99_ms": self.worst_process_p99_ms,
            "max_ms": self.max_ms,
        }


@dataclass(frozen=True)
class LoadgenHealth:
    """Was the load generator able to keep up? The one rule, used by the run's verdict
    (``invalid_repetitions``), the report's Warnings and the fairness rule ``loadgen_headroom``.

    A repetition is invalid when any load-generator process's loop lag exceeded
    LOOP_LAG_LIMIT_MS at p99, or when the generator's own processes used more than
    BUSY_LIMIT_PCT of a CPU each over the measured window (``own_cpu_pct``: a saturated
    generator inflates latency 2–3×), or when its CPU set was more than BUSY_LIMIT_PCT busy over
    its busiest BUSY_STRETCH_S (see ``CpuSetBusy``) and neither of those could be read. A CPU
    set saturated while the generator's own CPU stayed under the limit, and Postgres ran at
    least half of the other work there (``database_cpu_pct``, sampled with its exited
    backends), was saturated by the database: a variant that makes the database work harder
    (``pool=none`` forks a backend per request) saturates those CPUs by its own cost, and the
    generator, which yields to Postgres, waits for it — its loops late up to
    ATTRIBUTED_LAG_LIMIT_MS at p99 are that wait. That repetition is valid, its figures stand
    and include that cost (the lag too, said), and ``shared`` says so (``attributed``); any
    other saturation (a busy machine), or a longer wait, leaves it invalid.

    Why 10 ms at p99: the probe wakes 100 times a second, so a p99 above 10 ms means the loop
    stalled for more than 10 ms (busy with other work, or left without a CPU: it yields to
    Postgres, SCHED_IDLE) about once a second or more, and every response that arrived during
    a stall waited for it, the wait counted in its latency and charged to the service. A
    healthy loop only queues its own users' callbacks, far below the limit (the real runs of
    ``tests/load/test_health.py`` print the p99 they measured, and assert that a run without a
    CPU hog stays within it).
    """

    cpu_set: CpuSetBusy
    loop_lag: LoopLag
    own_cpu_pct: float = math.nan  # the generator's own processes, % of one CPU each, mean
    # The database's CPU over the window (% of one CPU; NaN: not observed) and whether the
    # services run on CPUs of their own (a plan that pins them apart): a saturated set is the
    # database's work only when both say so.
    database_cpu_pct: float = math.nan
    database_only: bool = True

    def _saturated(self) -> bool:
        cs = self.cpu_set
        return cs.measured and cs.busiest_pct > BUSY_LIMIT_PCT

    def _own_headroom(self) -> bool | None:
        """Whether the generator itself kept headroom (None: not measured): its own CPU under
        the limit and its loops late by at most ATTRIBUTED_LAG_LIMIT_MS at p99 (past
        LOOP_LAG_LIMIT_MS only for the database's work on the set: ``attributed``)."""
        lag = self.loop_lag
        if not lag.measured or not math.isfinite(self.own_cpu_pct):
            return None
        return (
            lag.worst_process_p99_ms <= ATTRIBUTED_LAG_LIMIT_MS
            and self.own_cpu_pct <= BUSY_LIMIT_PCT
        )

    def _late(self) -> bool:
        lag = self.loop_lag
        return lag.measured and lag.worst_process_p99_ms > LOOP_LAG_LIMIT_MS

    @property
    def other_cpu_pct(self) -> float:
        """What else the set's CPUs ran over the window, % of one CPU (NaN: not measured)."""
        cs = self.cpu_set
        if not cs.measured or not math.isfinite(self.own_cpu_pct):
            return math.nan
        return max(0.0, cs.mean_pct * max(1, len(cs.cpus)) - self.own_cpu_pct)

    @property
    def attributed(self) -> bool:
        """The CPU set was saturated by the database's work while the generator kept headroom:
        the database ran at least ``DATABASE_SHARE`` of the other work on the set."""
        return (
            self.database_only
            and self._saturated()
            and self._own_headroom() is True
            and math.isfinite(self.database_cpu_pct)
            and self.database_cpu_pct >= DATABASE_SHARE * self.other_cpu_pct
        )

    @property
    def shared(self) -> str:
        """What the CPU set's saturation was, when it was other work's (else "")."""
        if not self.attributed:
            return ""
        cs = self.cpu_set
        cpus = ",".join(map(str, cs.cpus)) or "?"
        lag_ms = self.loop_lag.worst_process_p99_ms
        kept = (
            f"its loops waited for the database's CPU (own CPU {self.own_cpu_pct:.0f} %, loop "
            f"lag p99 {lag_ms:.1f} ms, which the latency figures include)"
            if self._late()
            else f"the load generator kept up (own CPU {self.own_cpu_pct:.0f} %, loop lag p99 "
            f"{lag_ms:.1f} ms)"
        )
        return (
            f"load-generator CPU set {{{cpus}}} {cs.busiest_pct:.0f} % busy over the busiest "
            f"{cs.stretch_s:g} s, Postgres using {self.database_cpu_pct:.0f} % of a CPU there; "
            f"{kept}: the figures stand and include the database's cost"
        )

    @property
    def problems(self) -> tuple[str, ...]:
        """One clause per broken limit (empty: healthy, or not measured)."""
        out = []
        cs = self.cpu_set
        if self._saturated() and not self.attributed:
            cpus = ",".join(map(str, cs.cpus)) or "?"
            out.append(
                f"load-generator CPU set {{{cpus}}} was {cs.busiest_pct:.0f} % busy over the "
                f"busiest {cs.stretch_s:g} s of the measured window (limit "
                f"{BUSY_LIMIT_PCT:.0f} %; mean {cs.mean_pct:.0f} %)"
            )
        if math.isfinite(self.own_cpu_pct) and self.own_cpu_pct > BUSY_LIMIT_PCT:
            out.append(
                f"the load generator's own processes used {self.own_cpu_pct:.0f} % of a CPU "
                f"each (limit {BUSY_LIMIT_PCT:.0f} %)"
            )
        lag = self.loop_lag
        if self._late() and not self.attributed:
            out.append(
                f"a load-generator event loop woke {lag.worst_process_p99_ms:.1f} ms late at p99 "
                f"(limit {LOOP_LAG_LIMIT_MS:g} ms; worst {lag.max_ms:.0f} ms)"
            )
        return tuple(out)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def measured(self) -> bool:
        """Both halves of the rule could be judged."""
        return self.cpu_set.measured and self.loop_lag.measured

    def with_cpu_set(self, cpu_set: CpuSetBusy, own_cpu_pct: float | None = None) -> LoadgenHealth:
        """This health judged on another reading of the CPU set (a duet's shared one), with
        the generators' own CPU over it (``own_cpu_pct``: both sides' when given)."""
        own = self.own_cpu_pct if own_cpu_pct is None else own_cpu_pct
        return dataclasses.replace(self, cpu_set=cpu_set, own_cpu_pct=own)

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "measured": self.measured,
            "problems": list(self.problems),
            "limits": {
                "busy_pct": BUSY_LIMIT_PCT,
                "stretch_s": BUSY_STRETCH_S,
                "loop_lag_p99_ms": LOOP_LAG_LIMIT_MS,
            },
            "cpu_set": self.cpu_set.as_dict(),
            "loop_lag": self.loop_lag.as_dict(),
            "own_cpu_pct": round(self.own_cpu_pct, 1) if math.isfinite(self.own_cpu_pct) else None,
            "database_cpu_pct": (
                round(self.database_cpu_pct, 1) if math.isfinite(self.database_cpu_pct) else None
            ),
            "shared": self.shared or None,
        }


def own_cpu_percent(samples: Sequence[Mapping[str, float]], start: float, end: float,
                    processes: int = 1) -> float:  # fmt: skip
    """A sampled process tree's CPU over ``[start, end]`` (epoch s), % of one CPU per process
    (``processes``), from cumulative samples (``wall``, ``cpu_seconds``) interpolated at the
    edges of the part of the window they cover; NaN when they cover less than half of it."""
    walls = np.asarray([s["wall"] for s in samples], dtype=float)
    cpu = np.asarray([s["cpu_seconds"] for s in samples], dtype=float)
    if len(walls) < 2 or not end > start:
        return math.nan
    lo, hi = max(start, float(walls[0])), min(end, float(walls[-1]))
    if hi - lo < 0.5 * (end - start):
        return math.nan
    used = float(np.interp(hi, walls, cpu) - np.interp(lo, walls, cpu))
    return 100.0 * used / (hi - lo) / max(1, processes)


def invalid_message(variant: str, repetition: int, reason: str) -> str:
    """The one sentence for a repetition marked invalid (terminal, meta.json, report)."""
    return (
        f"{variant} repetition {repetition} is invalid ({reason}): its latency and throughput "
        "measure the load generator, not the service; compare and check leave it out."
    )


def _cpu_set_times(cpus: Sequence[int]) -> tuple[float, float]:
    """Busy and total CPU seconds so far, summed over ``cpus``, as psutil counts them for
    ``cpu_percent``: total leaves out guest time (already in user), busy is total minus idle
    and iowait (steal counts as busy: a CPU the hypervisor took was not Locust's either)."""
    per_cpu = psutil.cpu_times(percpu=True)
    busy = total = 0.0
    for cpu in cpus:
        t = per_cpu[cpu]
        all_s = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
        busy += all_s - t.idle - getattr(t, "iowait", 0.0)
        total += all_s
    return busy, total


class CpuSetSampler:
    """Cumulative busy and total seconds of a CPU set, read from the OS at each ``sample()``;
    ``rows`` are its samples.csv rows (role ``loadgen_cpus``, see docs/interfaces.md)."""

    def __init__(self, cpus: Sequence[int]) -> None:
        self.cpus = tuple(sorted(cpus))
        self.t_start = time.monotonic()
        self.walls: list[float] = []
        self.busy: list[float] = []
        self.total: list[float] = []
        self.rows: list[dict[str, float]] = []

    def sample(self) -> dict[str, float]:
        busy, total = _cpu_set_times(self.cpus)
        wall = time.time()
        prev = (self.busy[-1], self.total[-1]) if self.busy else None
        self.walls.append(wall)
        self.busy.append(busy)
        self.total.append(total)
        pct = 0.0
        if prev is not None and total > prev[1]:
            pct = 100.0 * (busy - prev[0]) / (total - prev[1])
        row = {
            "t_s": round(time.monotonic() - self.t_start, 3),
            "wall": round(wall, 3),
            "cpu_seconds": round(busy - self.busy[0], 3),
            "cpu_percent": round(pct, 1),
            "cpus": len(self.cpus),
        }
        self.rows.append(row)
        return row

    def busy_over(self, start: float, end: float) -> CpuSetBusy:
        return cpu_set_busy(self.walls, self.busy, self.total, start, end, cpus=self.cpus)
