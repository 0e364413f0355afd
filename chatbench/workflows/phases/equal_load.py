"""Latency at equal offered load: the second part of the default answer, planned and measured.

Closed-loop latency restates throughput (Little's law: N users / X req/s), so it cannot tell a
team what latency its users will see at its traffic. After the closed-loop capacity
repetitions, a run whose config names ``equal_load`` fractions (the quick profile: 0.5 and 0.8)
offers every variant the SAME open-model rate, a fraction of the SLOWEST variant's capacity
measured earlier in this run (the geometric mean of its kept repetitions, as the capacity
answer states it), so every variant is below its capacity and the latencies compare service
time plus the queueing that rate causes, not throughput.

Each rate is measured as a run directory of its own under ``equal-load/<pct>pct/`` (rate
mode, ``equal_load_repeat`` repetitions per variant interleaved A B, B A …, the rates
interleaved within each round), on the same long-lived services as the capacity, so every
fairness rule, the integrity check, the summary and the loaders apply to it unchanged; the
services' start-up facts (process tree, probes, SQL per endpoint, clone checks) are those read
when they started. The parent record lists the phases (``record.EqualLoadRecord``).

Each window ends as soon as it can hold the profile's ``tail`` percentile (where pauses can set
it, three of its service's full collections: ``measuring.live.TailWindowEnd``), no sooner than
``equal_load_duration`` and no later than ``window_max``.

Locust users for a rate: ``load.openloop.users_for(rate, LATENCY_BUDGET_S)``: each user has
one request in flight and sends every ``users / rate`` s, so the schedule is kept as long as
every response takes under the 250 ms budget; a slower service is caught as overloaded
(``load.openloop``), its latency shown as a lower bound. Rounded up to a multiple of the
load-generator processes, so each runs an equal share of the arrival grid.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from chatbench.analysing import stats
from chatbench.analysing.answers import CAPACITY_METRIC, run_answer
from chatbench.analysing.tables import repetition_metrics
from chatbench.configuration.endpoints import ALL
from chatbench.configuration.settings import RunConfig, spawn_rate_for
from chatbench.load.openloop import users_for
from chatbench.measuring.schedule import schedule
from chatbench.provisioning.cpuplan import CpuPlan
from chatbench.storing import record as rec
from chatbench.storing.recording import Recorder, header
from chatbench.storing.rundir import load_run
from chatbench.workflows.phases import PhaseContext

LATENCY_BUDGET_S = 0.25
MAX_USERS = 5000  # RunConfig's limit: above 20,000 req/s the budget shrinks accordingly
PHASES_DIR = "equal-load"


@dataclass(frozen=True)
class Plan:
    """The rates of the phase: ``fraction`` × the slowest variant's capacity each."""

    slowest: str
    capacity_rps: float
    rates: tuple[tuple[float, float], ...]  # (fraction, req/s)


def phase_dir(fraction: float) -> str:
    """``equal-load/50pct`` for 0.5 (relative to the run directory)."""
    return f"{PHASES_DIR}/{100 * fraction:g}pct"


def plan(run_dir: Path, cfg: RunConfig) -> Plan | str:
    """The rates from the capacity measured so far in ``run_dir``; a sentence instead when
    there is no capacity to start from."""
    capacities = measured_capacities(run_dir, cfg)
    if not capacities:
        return "no variant has a valid measured capacity to take the rates from"
    slowest = min(capacities, key=lambda v: capacities[v])
    rates = tuple((f, float(max(1, round(f * capacities[slowest])))) for f in cfg.equal_load)
    return Plan(slowest, capacities[slowest], rates)


def measured_capacities(run_dir: Path, cfg: RunConfig) -> dict[str, float]:
    """variant → its capacity as the answer states it (geometric mean req/s of its kept
    closed-loop repetitions); every repetition counted when none was kept and the user allowed
    an unfair run."""
    capacities = {
        c.variant: c.rps.value
        for c in run_answer(run_dir).capacities
        if math.isfinite(c.rps.value) and c.rps.value > 0
    }
    if not capacities and cfg.allow_unfair:  # every repetition invalid, and the user accepts it
        capacities = _all_repetitions(run_dir)
    return capacities


def _all_repetitions(run_dir: Path) -> dict[str, float]:
    """variant → geometric-mean throughput over every repetition, invalid ones included."""
    reps = repetition_metrics(load_run(run_dir))
    if reps.empty:
        return {}
    rows = reps[(reps["endpoint"] == ALL) & (reps["metric"] == CAPACITY_METRIC)]
    out = {}
    for variant, group in rows.groupby("variant", sort=False):
        est = stats.interval([float(v) for v in group["value"]])
        if math.isfinite(est.value) and est.value > 0:
            out[str(variant)] = est.value
    return out


def phase_config(
    cfg: RunConfig,
    rate: float,
    out_dir: Path,
    *,
    warmup_s: float | None = None,
    duration_s: float | None = None,
    repeat: int | None = None,
) -> RunConfig:
    """The open-model load of one rate: the same for every variant; its windows adaptive (they
    end once they can hold their tail, at most ``window_max`` in) unless ``duration_s`` fixes
    them."""
    # Equal shares per load-generator process, so the arrival grid interleaves them.
    share = cfg.loadgen_processes
    users = min(-(-users_for(rate, LATENCY_BUDGET_S) // share) * share, MAX_USERS // share * share)
    warmup = cfg.equal_load_warmup_s if warmup_s is None else warmup_s
    return dataclasses.replace(
        cfg,
        mode="rate",
        rate=rate,
        users=users,
        spawn_rate=spawn_rate_for(users, users, warmup, "rate"),  # every user within the warm-up
        warmup_s=warmup,
        duration_s=cfg.window_max_s if duration_s is None else duration_s,
        adaptive_window=duration_s is None,
        repeat=cfg.equal_load_repeat if repeat is None else repeat,
        equal_load=(),
        slo=None,
        open_crosscheck=False,
        cpu_profile=False,
        out_dir=out_dir,
    ).validate()


def phase_record(
    parent: rec.RunRecord,
    sub_cfg: RunConfig,
    cpu_plan: CpuPlan,
    *,
    run_id: str,
    fraction: float = 0.0,
    question: str | None = None,
) -> rec.RunRecord:
    """A phase's record as it starts: its own config, the parent's Postgres and the services'
    start-up facts (read at their first capacity repetition; the same services, started the
    same way)."""
    question = question or (
        f"At {sub_cfg.rate:g} req/s offered to every variant ({100 * fraction:g} % of the slowest "
        "variant's capacity), what latency does each give?"
    )
    fresh = header(sub_cfg, cpu_plan, run_id=run_id, question=question, crosscheck=None)
    ev = parent.evidence
    probes = {k: p.but(access_log_lines=0) for k, p in ev.service_probes.items()}
    return fresh.but(
        postgres=parent.postgres,
        variants=parent.variants,
        verify=parent.verify,
        cache=parent.cache,
        evidence=fresh.evidence.but(
            service_probes=probes,
            sql_per_endpoint=ev.sql_per_endpoint,
            pg_settings_hash_start=ev.pg_settings_hash_start,
            # The long-lived services' databases, checked against the template before they
            # started: the data every window of every phase began from.
            clone_checks=ev.clone_checks,
            pg_settings_by_db=ev.pg_settings_by_db,
        ),
    )


def sub_run(ctx: PhaseContext, where: str, sub_cfg: RunConfig, *, question: str | None = None,
            fraction: float = 0.0) -> Recorder:  # fmt: skip
    """A sub-run directory ``where`` (relative to the run) with its record, started."""
    sub_dir = ctx.run_dir / where
    sub_dir.mkdir(parents=True, exist_ok=False)
    sub = Recorder(sub_dir, phase_record(
        ctx.recorder.record, sub_cfg, ctx.plan, fraction=fraction, question=question,
        run_id=f"{ctx.recorder.record.run_id}/{where}"))  # fmt: skip
    sub.save()
    ctx.records.append(sub)
    return sub


def wanted(cfg: RunConfig) -> bool:
    return cfg.has_equal_load


def measure(ctx: PhaseContext) -> tuple[Recorder, ...]:
    """The open-model windows at the rates planned from the capacity just measured: each rate
    a run directory of its own, the rates and variants interleaved per round."""
    cfg, run_dir = ctx.cfg, ctx.run_dir
    ctx.judge()  # the capacity's invalid repetitions are known before the rates are taken
    ctx.recorder.save()
    planned = plan(run_dir, cfg)
    budget_ms = 1000 * LATENCY_BUDGET_S
    if isinstance(planned, str):
        ctx.recorder.warn(f"latency at equal offered load not measured: {planned}")
        ctx.recorder.set(equal_load=rec.EqualLoadRecord(latency_budget_ms=budget_ms,
                                                        phases=[], skipped=planned))  # fmt: skip
        return ()
    phases = []
    entries = []
    for fraction, rate in planned.rates:
        sub_cfg = phase_config(cfg, rate, (run_dir / phase_dir(fraction)).parent)
        sub = sub_run(ctx, phase_dir(fraction), sub_cfg, fraction=fraction)
        phases.append((ctx.sub_stage(sub_cfg, sub.run_dir), sub))
        entries.append(rec.EqualLoadPhase(fraction=fraction, rate=rate, users=sub_cfg.users,
                                          directory=phase_dir(fraction)))  # fmt: skip
    ctx.recorder.set(equal_load=rec.EqualLoadRecord(
        slowest=planned.slowest, capacity_rps=round(planned.capacity_rps, 3),
        latency_budget_ms=budget_ms, phases=entries))  # fmt: skip
    ctx.recorder.save()
    for rep, names_now in schedule(dataclasses.replace(cfg, repeat=cfg.equal_load_repeat)):
        for stage, sub in phases if rep % 2 else reversed(phases):
            ctx.check_stop()
            ctx.window(stage, rep, names_now, sub)
            sub.save()
    return tuple(sub for _, sub in phases)
