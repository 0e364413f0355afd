"""A run, measured: plan → provision → start and settle the services → phases → judge → integrity.

``execute`` is the whole measurement of ``chatbench run`` (and of every check and suite): it
plans the CPUs, provisions Postgres (and Valkey), starts each variant's long-lived service and
settles it past its start-up garbage collections (``measuring.live``; a duet starts its sides
per repetition instead), then runs every measurement phase the config asks for, in order
(``workflows.phases``: capacity, equal load, SLO, CPU profile), each recording what it saw
(``storing.recording``, the run directory rewritten atomically after every window), and
judges fairness and checks integrity (``analysing``) of the run and of each phase's sub-run.
Everything started here is stopped here, on success, failure and Ctrl-C alike; an
interrupted run keeps what it collected and says it is incomplete. It draws nothing:
``workflows.bench`` calls the report afterwards.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chatbench.analysing import integrity
from chatbench.analysing.fairness import NotComparable
from chatbench.configuration import machine
from chatbench.configuration.paths import CROSSCHECK_DIR, POSTGRESQL_CONF, SCHEMA_SQL
from chatbench.configuration.settings import RunConfig
from chatbench.configuration.urls import redact
from chatbench.errors import ChatbenchError, Interrupted
from chatbench.load.health import invalid_message
from chatbench.measuring.repetition import Stage
from chatbench.measuring.schedule import with_order_seed
from chatbench.measuring.watch import Progress, RunHooks, Silent
from chatbench.provisioning import cache as cache_mod
from chatbench.provisioning import cpuplan, postgres
from chatbench.provisioning.provision import Provisioned, provision
from chatbench.provisioning.seed import SeedSpec
from chatbench.storing import crosschecks
from chatbench.storing import record as rec
from chatbench.storing.recording import Recorder, header
from chatbench.workflows import contract
from chatbench.workflows.phases import (
    PhaseContext,
    capacity,
    cpu_profile,
    crosscheck,
    equal_load,
    slo,
)
from chatbench.workflows.preflight import look_before


@dataclass(frozen=True)
class RunOutcome:
    """Where a finished run is, and its record."""

    run_dir: Path
    record: rec.RunRecord
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def warnings(self) -> list[str]:
        return [*self.record.warnings, *self.notes]


def new_run_id(variants: tuple[str, ...], *, label: str | None = None) -> str:
    """``<UTC time>-<label or the variants>-<4 hex digits>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    what = label or "-vs-".join(variants)[:60]
    return f"{stamp}-{what}-{secrets.token_hex(2)}"


def default_question(cfg: RunConfig) -> str:
    return (
        f"For a ChatMessage API on PostgreSQL, how do {', '.join(cfg.variants)} compare "
        f"under the {cfg.scenario} scenario in {cfg.mode} mode?"
    )


def execute(
    cfg: RunConfig,
    *,
    progress: Progress | None = None,
    hooks: RunHooks | None = None,
    run_id: str | None = None,
    question: str | None = None,
    suite: rec.SuiteRecord | None = None,
) -> RunOutcome:
    """Measure ``cfg`` into a new run directory under ``cfg.out_dir``; see the module
    docstring. A run whose fairness rules were violated still returns (``raise_if_unfair``
    decides, once the report is written)."""
    progress = progress or Silent()
    cfg = with_order_seed(cfg)  # recorded in meta.json's config before anything loads
    plan = cpuplan.make_plan(cfg.server_cpus, cfg.loadgen_cpus)
    run_id = run_id or new_run_id(cfg.variants)
    run_dir = Path(cfg.out_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    cited = crosschecks.latest_for(
        CROSSCHECK_DIR, cfg.scenario, list(cfg.variants), machine.machine_class()
    )
    recorder = Recorder(run_dir, header(cfg, plan, run_id=run_id, crosscheck=cited,
                                        question=question or default_question(cfg), suite=suite))  # fmt: skip
    if cfg.has_equal_load or cfg.slo:  # the tails' instrument, checked by another
        tails_cited = crosschecks.latest_open_for(CROSSCHECK_DIR, cfg.scenario, list(cfg.variants))
        if tails_cited is not None:
            recorder.set(
                open_crosscheck_cited=rec.OpenCrossCheckCitation.model_validate(tails_cited)
            )
    if not plan.pinned:
        recorder.warn(f"CPU pinning off: {plan.note}")
    look_before(plan, recorder, progress)
    recorder.save()
    ctx = PhaseContext(cfg, plan, recorder, progress, hooks or RunHooks(), threading.Event())
    ctx.records.append(recorder)
    status, error = "failed", None
    try:
        _measure(ctx)
        ctx.judge()
        integrity.require(recorder.record.integrity)
        status = "complete"
    except KeyboardInterrupt:
        status, error = "incomplete", "interrupted by the user (Ctrl-C)"
        raise Interrupted(
            f"Interrupted; partial results kept in {run_dir} (marked incomplete)."
        ) from None
    except ChatbenchError as exc:
        error = str(exc) + (f"\n{exc.detail}" if exc.detail else "")
        raise
    finally:
        recorder.finish(status, error)
        recorder.save()
    return RunOutcome(run_dir, recorder.record)


def raise_if_unfair(outcome: RunOutcome, cfg: RunConfig) -> None:
    """``NotComparable`` (exit 3) for a run whose fairness rules were violated, unless the user
    allowed it (``--allow-unfair``)."""
    found = outcome.record.fairness
    phases = phase_violations(outcome.run_dir)
    if (found.comparable and not phases) or cfg.allow_unfair:
        return
    if found.comparable:
        raise NotComparable(
            f"The run is not comparable: fairness rule(s) violated in {'; '.join(phases)} "
            "(--allow-unfair accepts it)."
        )
    lines = [invalid_message(x.variant, x.repetition, x.reason) for x in outcome.record.invalid_repetitions]  # fmt: skip
    raise NotComparable(
        f"The run is not comparable: fairness rule(s) violated: {', '.join(found.violated)} "
        f"(see the Fairness section of {outcome.run_dir / 'report.html'}; --allow-unfair "
        "accepts it).",
        detail="\n".join(lines) or None,
    )


def phase_violations(run_dir: Path) -> list[str]:
    """``<phase directory>: <rules>`` for every equal-load or SLO phase of a run whose fairness
    rules were violated (an SLO search's order excepted: it follows its verdicts by design)."""
    out = []
    metas = [
        *run_dir.glob(f"{equal_load.PHASES_DIR}/*/meta.json"),
        *run_dir.glob("slo/*/meta.json"),
    ]
    for meta in sorted(metas):
        where = meta.parent.relative_to(run_dir).as_posix()
        violated = [
            r
            for r in rec.load(meta.parent).fairness.violated
            if not (where.startswith("slo/") and r == slo.NOT_INTERLEAVED)
        ]
        if violated:
            out.append(f"{where}: {', '.join(violated)}")
    return out


PHASES = (capacity, equal_load, slo, crosscheck, cpu_profile)


def _measure(ctx: PhaseContext) -> None:
    """Every phase the config asks for, in order (``workflows.phases``); then each sub-run is
    judged and checked like a run."""
    if ctx.cfg.target_url:
        if ctx.cfg.contract == "openapi":
            targets = dict(ctx.cfg.targets) or {
                ctx.cfg.variant_label or "target": ctx.cfg.target_url
            }
            _require_contract(ctx, contract.check_targets(targets, on_phase=ctx.progress.phase))
        capacity.measure(ctx)
        return
    cfg, plan, recorder = ctx.cfg, ctx.plan, ctx.recorder
    seed = SeedSpec(cfg.seed_sessions, cfg.seed_messages, cfg.seed)
    ctx.specs = {name: cfg.variant(name) for name in cfg.variants}
    with contextlib.ExitStack() as stack:
        ready = stack.enter_context(
            provision(
                seed,
                database_url=cfg.database_url,
                postgres_cpus=plan.loadgen if plan.pinned else None,
                drop_clones=True,  # on the user's server: the embedded one goes whole
                on_phase=ctx.progress.phase,
                on_cleanup_error=recorder.warn,
            )
        )
        ctx.template = _record_postgres(recorder, ready, seed)
        ctx.template_url = ready.template_url
        cache = None
        if any(s.axes.get("cache") == "valkey" for s in ctx.specs.values()):
            cache = stack.enter_context(
                cache_mod.provide(url=cfg.cache_url, plan=plan, on_phase=ctx.progress.phase)
            )
            recorder.set(cache=_cache_record(cache, external=bool(cfg.cache_url)))
        ctx.stage = Stage(cfg, plan, recorder.run_dir, ready.server_url,
                          ready.cluster.postmaster_pid if ready.cluster else None, ready.clone,
                          cache, ctx.stop, ctx.progress, ctx.hooks)  # fmt: skip
        if cfg.contract == "openapi":
            report = contract.check_variants(ctx.specs, ready.clone, on_phase=ctx.progress.phase)
            _require_contract(ctx, report)
        if not cfg.duet:
            ctx.open_services(stack)
        subs: list[Recorder] = []
        for phase in PHASES:
            if phase.wanted(cfg):
                subs += phase.measure(ctx)
        ctx.close_services()
        end = postgres.settings_hash(postgres.settings(ready.template_url))
        for sub in (*subs, recorder):
            sub.evidence(pg_settings_hash_end=end)
        _finish_phases(ctx, subs)


def _require_contract(ctx: PhaseContext, report: contract.ContractReport) -> None:
    """Keep the OpenAPI contract check in meta.json; stop the run unless it passed."""
    ctx.recorder.set(contract=contract.record(report))
    ctx.recorder.save()
    contract.require(report)


def _finish_phases(ctx: PhaseContext, subs: list[Recorder]) -> None:
    """Judge and check each sub-run like a run (an SLO search's steps are not interleaved
    A B, B A by design: that rule is not held against it); the verdicts go into the parent
    record."""
    recorder = ctx.recorder
    for sub in subs:
        ctx.judge(sub)
        status = "complete" if all(x.ok for x in sub.record.integrity) else "failed"
        sub.finish(status)
        sub.save()
    for found in phase_violations(recorder.run_dir):
        recorder.warn(f"fairness rule(s) violated in {found}")
    section = recorder.record.equal_load
    if section is not None and section.phases:
        by_dir = {sub.run_dir.relative_to(recorder.run_dir).as_posix(): sub for sub in subs}
        entries = []
        for entry in section.phases:
            sub = by_dir.get(entry.directory)
            if sub is None:
                entries.append(entry)
                continue
            overloaded = [f"{r.variant}#{r.repetition}" for r in sub.record.repetitions
                          if r.overloaded]  # fmt: skip
            recorder.set(warnings=[*recorder.record.warnings, *(
                f"latency at {entry.rate:g} req/s: {w}" for w in sub.record.warnings
                if "overloaded" in w)])  # fmt: skip
            entries.append(entry.but(status=sub.record.status,
                                     comparable=sub.record.fairness.comparable,
                                     overloaded=overloaded))  # fmt: skip
        recorder.set(equal_load=section.but(phases=entries))
    for sub in subs:
        integrity.require(sub.record.integrity)


def _record_postgres(recorder: Recorder, ready: Provisioned, seed: SeedSpec) -> postgres.DataState:
    """The server and its template in the record; returns what every clone must hold."""
    if ready.cluster is None:
        where = rec.PostgresRecord(mode="external", url=redact(ready.server_url))
    else:
        pid = ready.cluster.postmaster_pid
        where = rec.PostgresRecord(mode="embedded", version=postgres.server_version(),
                                   port=ready.cluster.port, postmaster_pid=pid,
                                   affinity=list(cpuplan.affinity(pid) or []) if pid else [])  # fmt: skip
    template = postgres.data_state(ready.template_url)
    settings = postgres.settings(ready.template_url)
    recorder.set(postgres=where.but(
        config_file="postgres/postgresql.conf",
        config_sha256=postgres.file_sha256(POSTGRESQL_CONF),
        schema_sha256=postgres.file_sha256(SCHEMA_SQL),
        template_rows=postgres.row_count(ready.template_url),
        template_checksum=template.checksum,
        settings=settings,
        seed={"sessions": seed.sessions, "messages": seed.messages, "seed": seed.seed},
    ))  # fmt: skip
    recorder.evidence(pg_settings_hash_start=postgres.settings_hash(settings))
    recorder.save()
    return template


def _cache_record(
    cache: cache_mod.ValkeyServer | cache_mod.ExternalCache, *, external: bool
) -> rec.CacheRecord:
    if external:
        return rec.CacheRecord(mode="external", url=cache.url, stats={})
    return rec.CacheRecord(mode="embedded", url=cache.url, version=cache.version(), stats={})
