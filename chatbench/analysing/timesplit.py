"""Where the time of a request goes: service CPU, database execution, and waiting.

Per variant, over the kept repetitions of a run (geometric means, ``stats.interval``):

* **service CPU** per request: the service's CPU-seconds in the measured window / its
  successful requests (``tables``' ``req_per_cpu_s``, inverted);
* **database execution** per request: Postgres's execution time from pg_stat_statements / the
  successful requests of the load (``evidence.sql``);
* **waiting**: the mean latency minus both. It is what is left: queueing for a worker, a
  connection or the CPU, plus the network and the driver. It is labelled waiting, not work.

The split is meaningful where the service is below its capacity: at an equal offered load
(``workflows.phases.equal_load``) a request's latency is its work plus the queueing that rate causes.
In a closed loop the latency is set by throughput instead (Little's law: mean latency = users /
throughput), so there most of it is waiting, and ``closed_loop_sentence`` says by how much with
the run's own figures.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from chatbench.analysing import stats
from chatbench.analysing.tables import merge_hdr, repetition_metrics, without_invalid
from chatbench.configuration.endpoints import ALL
from chatbench.storing.rundir import Run


@dataclass(frozen=True)
class TimeSplit:
    """One variant's mean request, in milliseconds."""

    variant: str
    latency_ms: float  # mean latency from the histograms (all endpoints, measured window)
    cpu_ms: float  # NaN when the service's CPU was not sampled
    db_ms: float  # NaN without pg_stat_statements figures
    rps: float

    @property
    def waiting_ms(self) -> float:
        work = (self.cpu_ms if math.isfinite(self.cpu_ms) else 0.0) + (
            self.db_ms if math.isfinite(self.db_ms) else 0.0
        )
        return max(0.0, self.latency_ms - work)

    @property
    def waiting_share(self) -> float:
        return self.waiting_ms / self.latency_ms if self.latency_ms > 0 else math.nan


def _mean(values: list[float]) -> float:
    return stats.interval(values).value if values else math.nan


@functools.lru_cache(maxsize=512)
def _mean_latency_ms(hdrs: tuple[str, ...]) -> float:
    """Mean latency of a repetition's merged histograms. Cached: a report asks for the split of
    the same repetitions several times (answers and charts), and merging and walking HDR
    histograms in Python is most of a report's drawing time."""
    return merge_hdr(hdrs).get_mean_value() / 1000.0


def split(run: Run, *, keep_invalid: bool = False) -> tuple[TimeSplit, ...]:
    """The split of every variant of a run (loadgen-saturated repetitions left out, unless
    ``keep_invalid``: the charts draw every repetition, as the summary does)."""
    if not keep_invalid:
        run, _ = without_invalid(run)
    reps = repetition_metrics(run)
    out = []
    for variant in run.variants:
        mine = [r for r in run.repetitions if r.variant == variant]
        kept = {r.repetition for r in mine}
        means = [
            _mean_latency_ms(tuple(e.hdr for e in r.endpoints if e.hdr))
            for r in mine
            if any(e.hdr for e in r.endpoints)
        ]
        per_cpu, rps = [], []
        if not reps.empty:
            sub = reps[(reps["variant"] == variant) & (reps["endpoint"] == ALL)]
            per_cpu = [float(v) for v in sub[sub["metric"] == "req_per_cpu_s"]["value"] if v > 0]
            rps = [float(v) for v in sub[sub["metric"] == "rps"]["value"]]
        windows = run.record.evidence.sql.get(variant, [])
        db = [float(w.db_exec_ms_per_request) for w in windows if w.repetition in kept]
        out.append(
            TimeSplit(
                variant=variant,
                latency_ms=_mean(means),
                cpu_ms=_mean([1000.0 / x for x in per_cpu]),
                db_ms=_mean(db),
                rps=_mean(rps),
            )
        )
    return tuple(out)


def closed_loop_sentence(found: TimeSplit, users: int) -> str | None:
    """``Closed-loop latency is mostly waiting: …`` with Little's law and the run's figures."""
    if not (math.isfinite(found.rps) and found.rps > 0 and math.isfinite(found.latency_ms)):
        return None
    little = 1000.0 * users / found.rps
    parts = []
    if math.isfinite(found.cpu_ms):
        parts.append(f"{found.cpu_ms:.2f} ms of service CPU")
    if math.isfinite(found.db_ms):
        parts.append(f"{found.db_ms:.2f} ms of database execution")
    if not parts:
        return None
    return (
        f"Closed-loop latency is not compared: it restates throughput (Little's law: {users} "
        f"users / {found.rps:,.0f} req/s = {little:.1f} ms; {found.variant}'s measured mean "
        f"{found.latency_ms:.1f} ms). Of that mean, {' and '.join(parts)} per request are work; "
        f"the other {found.waiting_ms:.1f} ms ({100 * found.waiting_share:.0f} %) is waiting."
    )


def at_rate_sentence(splits: tuple[TimeSplit, ...], rate: float) -> str | None:
    """Where the time goes at an equal offered rate, per variant."""
    parts = [
        f"{s.variant} {s.cpu_ms:.2f} ms CPU + {s.db_ms:.2f} ms DB + {s.waiting_ms:.2f} ms "
        f"waiting = {s.latency_ms:.2f} ms mean"
        for s in splits
        if math.isfinite(s.cpu_ms) and math.isfinite(s.db_ms) and math.isfinite(s.latency_ms)
    ]
    if not parts:
        return None
    return f"Where the time goes at {rate:,.0f} req/s, per request: " + "; ".join(parts) + "."
