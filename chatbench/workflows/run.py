"""A run, measured: plan → provision → per repetition: measure → record → judge → integrity.

``execute`` is the whole measurement of ``chatbench run`` (and of every check and suite): it
plans the CPUs, provisions Postgres (and Valkey), then for each repetition round probes the
machine's speed and measures every variant (``measuring``), records what it saw
(``storing.recording``, the run directory rewritten atomically after every repetition),
judges fairness and checks integrity (``analysing``). Everything started here is stopped
here, on success, failure and Ctrl-C alike; an interrupted run keeps what it collected and
says it is incomplete. It draws nothing: ``workflows.bench`` calls the report afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from chatbench.analysing import fairness, integrity, stats
from chatbench.analysing.fairness import NotComparable
from chatbench.configuration.paths import CROSSCHECK_DIR, POSTGRESQL_CONF, SCHEMA_SQL
from chatbench.configuration.settings import RunConfig
from chatbench.configuration.urls import redact
from chatbench.configuration.variants import VariantSpec
from chatbench.errors import ChatbenchError, Interrupted
from chatbench.load import latency
from chatbench.load.health import invalid_message
from chatbench.measuring import control, duet, profiling, repetition, sqlwork, target
from chatbench.measuring.profiling import STACKS
from chatbench.measuring.repetition import Observation, Stage
from chatbench.measuring.schedule import schedule, with_order_seed
from chatbench.measuring.watch import Progress, RunHooks, Silent
from chatbench.provisioning import cache as cache_mod
from chatbench.provisioning import cpuplan, postgres
from chatbench.provisioning.provision import Provisioned, provision
from chatbench.provisioning.seed import SeedSpec
from chatbench.serving import profiler
from chatbench.storing import crosschecks
from chatbench.storing import record as rec
from chatbench.storing.recording import Recorder, header
from chatbench.workflows import equal_load, slo
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
    cited = crosschecks.latest_for(CROSSCHECK_DIR, cfg.scenario, list(cfg.variants))
    recorder = Recorder(run_dir, header(cfg, plan, run_id=run_id, crosscheck=cited,
                                        question=question or default_question(cfg), suite=suite))  # fmt: skip
    if not plan.pinned:
        recorder.warn(f"CPU pinning off: {plan.note}")
    look_before(plan, recorder, progress)
    recorder.save()
    run = _Run(cfg, plan, recorder, progress, hooks or RunHooks(), threading.Event())
    status, error = "failed", None
    try:
        if cfg.target_url:
            run.measure_target()
        else:
            run.measure_local()
        run.judge()
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
    for meta in sorted([*run_dir.glob(f"{equal_load.PHASES_DIR}/*/meta.json"),
                        *run_dir.glob("slo/*/meta.json")]):  # fmt: skip
        where = meta.parent.relative_to(run_dir).as_posix()
        violated = [r for r in rec.load(meta.parent).fairness.violated
                    if not (where.startswith("slo/") and r == slo.NOT_INTERLEAVED)]  # fmt: skip
        if violated:
            out.append(f"{where}: {', '.join(violated)}")
    return out


@dataclass
class _Run:
    """One execution's moving parts (only ``execute`` makes one)."""

    cfg: RunConfig
    plan: cpuplan.CpuPlan
    recorder: Recorder
    progress: Progress
    hooks: RunHooks
    stop: threading.Event

    # -- local: provision, then every variant × repetition, interleaved ----------------------
    def measure_local(self) -> None:
        cfg, plan = self.cfg, self.plan
        seed = SeedSpec(cfg.seed_sessions, cfg.seed_messages, cfg.seed)
        specs = {name: cfg.variant(name) for name in cfg.variants}
        with contextlib.ExitStack() as stack:
            ready = stack.enter_context(
                provision(
                    seed,
                    database_url=cfg.database_url,
                    postgres_cpus=plan.loadgen if plan.pinned else None,
                    drop_clones=True,  # on the user's server: the embedded one goes whole
                    on_phase=self.progress.phase,
                    on_cleanup_error=self.recorder.warn,
                )
            )
            template = self._record_postgres(ready, seed)
            cache = None
            if any(s.axes.get("cache") == "valkey" for s in specs.values()):
                cache = stack.enter_context(
                    cache_mod.provide(url=cfg.cache_url, plan=plan, on_phase=self.progress.phase)
                )
                self.recorder.set(cache=_cache_record(cache, external=bool(cfg.cache_url)))
            stage = Stage(cfg, plan, self.recorder.run_dir, ready.server_url,
                          ready.cluster.postmaster_pid if ready.cluster else None, ready.clone,
                          cache, self.stop, self.progress, self.hooks)  # fmt: skip
            probed = 0
            for rep, names in schedule(cfg):
                if self.stop.is_set():
                    raise KeyboardInterrupt
                if rep != probed:  # once per repetition round, before its variants load
                    self._control(ready.template_url, rep)
                    probed = rep
                self._round(stage, template, rep, tuple(specs[n] for n in names))
                self.recorder.save()
            phases: list[Recorder] = []
            if cfg.has_equal_load:
                phases = self._equal_load(stage, template, specs)
            if cfg.slo is not None:
                phases += self._slo(stage, template, specs)
            if cfg.cpu_profile:
                self._profile(stage, tuple(specs.values()))
            end = postgres.settings_hash(postgres.settings(ready.template_url))
            for recorder in (*phases, self.recorder):
                recorder.evidence(pg_settings_hash_end=end)
            self._finish_phases(phases)

    # -- latency at equal offered load (workflows.equal_load) --------------------------------
    def _equal_load(self, stage: Stage, template: postgres.DataState,
                    specs: dict[str, VariantSpec]) -> list[Recorder]:  # fmt: skip
        """The open-model repetitions at the rates planned from the capacity just measured:
        each rate a run directory of its own, the rates and variants interleaved per round."""
        cfg, run_dir = self.cfg, self.recorder.run_dir
        self.judge()  # the capacity's invalid repetitions are known before the rates are taken
        self.recorder.save()
        planned = equal_load.plan(run_dir, cfg)
        budget_ms = 1000 * equal_load.LATENCY_BUDGET_S
        if isinstance(planned, str):
            self.recorder.warn(f"latency at equal offered load not measured: {planned}")
            self.recorder.set(equal_load=rec.EqualLoadRecord(latency_budget_ms=budget_ms,
                                                             phases=[], skipped=planned))  # fmt: skip
            return []
        phases: list[tuple[Stage, Recorder]] = []
        entries = []
        for fraction, rate in planned.rates:
            sub_dir = run_dir / equal_load.phase_dir(fraction)
            sub_dir.mkdir(parents=True, exist_ok=False)
            sub_cfg = equal_load.phase_config(cfg, rate, sub_dir.parent)
            sub = Recorder(sub_dir, equal_load.phase_record(
                self.recorder.record, sub_cfg, self.plan, fraction=fraction,
                run_id=f"{self.recorder.record.run_id}/{equal_load.phase_dir(fraction)}"))  # fmt: skip
            sub.save()
            phases.append((dataclasses.replace(stage, cfg=sub_cfg, run_dir=sub_dir), sub))
            entries.append(rec.EqualLoadPhase(
                fraction=fraction, rate=rate, users=sub_cfg.users,
                directory=equal_load.phase_dir(fraction)))  # fmt: skip
        self.recorder.set(equal_load=rec.EqualLoadRecord(
            slowest=planned.slowest, capacity_rps=round(planned.capacity_rps, 3),
            latency_budget_ms=budget_ms, phases=entries))  # fmt: skip
        self.recorder.save()
        rounds = schedule(dataclasses.replace(cfg, repeat=cfg.equal_load_repeat))
        for rep, names in rounds:
            for sub_stage, sub in phases if rep % 2 else reversed(phases):
                if self.stop.is_set():
                    raise KeyboardInterrupt
                self._round(sub_stage, template, rep, tuple(specs[n] for n in names), sub)
                sub.save()
        return [sub for _, sub in phases]

    # -- capacity under a latency objective (workflows.slo) ------------------------------------
    def _slo(self, stage: Stage, template: postgres.DataState,
             specs: dict[str, VariantSpec]) -> list[Recorder]:  # fmt: skip
        """The searches (``slo.ROUNDS``, interleaved across variants), then the confirming
        windows at each variant's found rate; see ``workflows.slo``."""
        cfg, run_dir = self.cfg, self.recorder.run_dir
        assert cfg.slo is not None
        self.judge()
        self.recorder.save()
        percentile, bound = slo.objective(cfg.slo)
        capacities = equal_load.measured_capacities(run_dir, cfg)
        section = rec.SloRecord(objective=cfg.slo, percentile=percentile, bound_ms=bound,
                                capacities={v: round(c, 3) for v, c in capacities.items()},
                                steps=[], found={}, confirm_rates={})  # fmt: skip
        if not capacities:
            self.recorder.set(slo=section.but(skipped="no variant has a valid measured capacity"))
            return []
        names = [n for n in cfg.variants if n in capacities]

        def recorder_for(where: str, rate: float, repeat: int, duration: float) -> tuple[RunConfig, Recorder]:  # fmt: skip
            sub_dir = run_dir / where
            sub_dir.mkdir(parents=True, exist_ok=False)
            sub_cfg = equal_load.phase_config(cfg, rate, sub_dir.parent, repeat=repeat,
                                              duration_s=duration)  # fmt: skip
            question = f"How much traffic does each variant carry within {cfg.slo}?"
            sub = Recorder(sub_dir, equal_load.phase_record(
                self.recorder.record, sub_cfg, self.plan, question=question,
                run_id=f"{self.recorder.record.run_id}/{where}"))  # fmt: skip
            sub.save()
            return sub_cfg, sub

        def step(sub: Recorder, sub_cfg: RunConfig, name: str, rep: int, rate: float,
                 repeat: int) -> tuple[float, bool]:  # fmt: skip
            step_cfg = equal_load.phase_config(cfg, rate, sub_cfg.out_dir, repeat=repeat,
                                               warmup_s=sub_cfg.warmup_s, duration_s=sub_cfg.duration_s)  # fmt: skip
            step_stage = dataclasses.replace(stage, cfg=step_cfg, run_dir=sub.run_dir)
            if self.stop.is_set():
                raise KeyboardInterrupt
            self._round(step_stage, template, rep, (specs[name],), sub)
            sub.save()
            entry = sub.record.repetitions[-1]
            doc = latency.read_requests(sub.run_dir / "raw" / name / f"rep-{rep}" / "requests.json")
            value = latency.percentiles(doc.all_endpoints_histogram(), [percentile])[percentile]
            return value, bool(entry.overloaded)

        first = capacities[names[0]] * slo.START
        search_cfg, search = recorder_for(slo.SEARCH_DIR, first, 1, cfg.equal_load_duration_s)
        found: dict[str, list[float]] = {n: [] for n in names}
        steps: list[rec.SloStep] = []
        counter = dict.fromkeys(names, 0)
        for round_ in range(1, slo.ROUNDS + 1):
            for name in names if round_ % 2 else reversed(names):
                self.progress.phase(f"{cfg.slo} search {round_}/{slo.ROUNDS}: {name}")
                search_state = slo.Search(capacities[name])
                while (rate := search_state.next_rate()) is not None:
                    counter[name] += 1
                    value, over = step(search, search_cfg, name, counter[name], rate, 1)
                    passed = slo.passes(value, bound, over)
                    search_state.observe(rate, passed)
                    steps.append(rec.SloStep(variant=name, round=round_, repetition=counter[name],
                                             rate=rate, value_ms=round(value, 3) if math.isfinite(value) else None,
                                             overloaded=over, passed=passed))  # fmt: skip
                found[name].append(search_state.found)
                self.recorder.set(slo=section.but(steps=steps, found=found))
                self.recorder.save()
        confirm_rates = {n: stats.interval(found[n]).value for n in names if min(found[n]) > 0}
        section = section.but(steps=steps, found=found,
                              confirm_rates={n: round(r, 1) for n, r in confirm_rates.items()})  # fmt: skip
        self.recorder.set(slo=section)
        if not confirm_rates:
            return [search]
        confirm_cfg, confirm = recorder_for(slo.CONFIRM_DIR, max(confirm_rates.values()),
                                            slo.CONFIRMATIONS, cfg.equal_load_duration_s)  # fmt: skip
        for rep, (name,) in schedule(dataclasses.replace(cfg, variants=tuple(confirm_rates),
                                                         repeat=slo.CONFIRMATIONS)):  # fmt: skip
            step(confirm, confirm_cfg, name, rep, round(confirm_rates[name], 1), slo.CONFIRMATIONS)
        return [search, confirm]

    def _finish_phases(self, phases: list[Recorder]) -> None:
        """Judge and check each phase like a run (an SLO search's steps are not interleaved
        A B, B A by design: that rule is not held against it); the verdicts go into the parent
        record."""
        for sub in phases:
            self.judge(sub)
            status = "complete" if all(x.ok for x in sub.record.integrity) else "failed"
            sub.finish(status)
            sub.save()
        for found in phase_violations(self.recorder.run_dir):
            self.recorder.warn(f"fairness rule(s) violated in {found}")
        section = self.recorder.record.equal_load
        if not phases or section is None or not section.phases:
            for sub in phases:
                integrity.require(sub.record.integrity)
            return
        entries = []
        for sub, entry in zip(phases, section.phases, strict=False):
            overloaded = [f"{r.variant}#{r.repetition}" for r in sub.record.repetitions
                          if r.overloaded]  # fmt: skip
            status = sub.record.status
            self.recorder.set(warnings=[*self.recorder.record.warnings, *(
                f"latency at {entry.rate:g} req/s: {w}" for w in sub.record.warnings
                if "overloaded" in w)])  # fmt: skip
            entries.append(entry.but(status=status, comparable=sub.record.fairness.comparable,
                                     overloaded=overloaded))  # fmt: skip
        self.recorder.set(equal_load=section.but(phases=entries))
        for sub in phases:
            integrity.require(sub.record.integrity)

    def _profile(self, stage: Stage, specs: tuple[VariantSpec, ...]) -> None:
        """``--cpu-profile``: each variant's profiled repetition (``measuring.profiling``),
        recorded as it ends. Where py-spy cannot attach, the run says so once and goes on."""
        section = rec.CpuProfileRecord(
            tool=f"py-spy {_version('py-spy')}",
            command=" ".join(profiler.command("ROOT_PID", Path(profiling.PROFILE_DIR, "VARIANT", STACKS))),
            rate_hz=profiler.RATE_HZ, repetition=profiling.WHICH, variants={},
        )  # fmt: skip
        self.recorder.set(cpu_profile=section)
        for spec in specs:
            if self.stop.is_set():
                raise KeyboardInterrupt
            try:
                done = profiling.profile_variant(stage, spec)
            except profiler.ProfilerUnavailable as exc:
                sentence = f"CPU profiles skipped: {exc}; the run continues without them."
                self.progress.phase(sentence)
                self.recorder.warn(sentence)
                self.recorder.set(cpu_profile=section.but(unavailable=sentence))
                self.recorder.save()
                return
            p = done.profile
            section = section.but(variants={**section.variants, spec.name: rec.VariantProfile(
                stacks=done.stacks, samples=p.samples, errors=p.errors, seconds=round(p.seconds, 3),
                user_cpu_s=round(p.user_cpu_s, 3), system_cpu_s=round(p.system_cpu_s, 3),
                requests=done.requests,
            )})  # fmt: skip
            self.recorder.set(cpu_profile=section)
            self.recorder.save()

    def _record_postgres(self, ready: Provisioned, seed: SeedSpec) -> postgres.DataState:
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
        self.recorder.set(postgres=where.but(
            config_file="postgres/postgresql.conf",
            config_sha256=postgres.file_sha256(POSTGRESQL_CONF),
            schema_sha256=postgres.file_sha256(SCHEMA_SQL),
            template_rows=postgres.row_count(ready.template_url),
            template_checksum=template.checksum,
            settings=settings,
            seed={"sessions": seed.sessions, "messages": seed.messages, "seed": seed.seed},
        ))  # fmt: skip
        self.recorder.evidence(pg_settings_hash_start=postgres.settings_hash(settings))
        self.recorder.save()
        return template

    def _control(self, template_url: str, rep: int) -> None:
        """The control probe of one repetition round (see ``measuring.control``): the
        machine's speed now, so a metric can be expressed relative to it. A failed probe is
        recorded and warned about; it never fails the run (only normalised figures are lost)."""
        seconds = control.probe_seconds(self.cfg.duration_s)
        if self.recorder.record.control is None:
            self.recorder.set(control=rec.ControlRecord(
                probe=control.DESCRIPTION, seconds=seconds, repetitions=[]))  # fmt: skip
        self.progress.phase(f"control probe for repetition {rep}: {seconds:g} s")
        result, error = None, None
        try:
            cpus = self.plan.server if self.plan.pinned else None
            result = control.measure(template_url, seconds=seconds, cpus=cpus)
        except control.ControlError as exc:
            error = str(exc)
            self.recorder.warn(
                f"control probe of repetition {rep} failed ({exc}); normalised figures are "
                "not available for it"
            )
        finally:
            # The probe's statements are the template's, never a variant's; forget them anyway.
            with contextlib.suppress(ChatbenchError):
                sqlwork.reset(template_url)
        self.recorder.control(rep, result, error)

    def _round(self, stage: Stage, template: postgres.DataState, rep: int,
               specs: tuple[VariantSpec, ...], recorder: Recorder | None = None) -> None:  # fmt: skip
        """One repetition of one variant (or of a duet's pair): clone and check each
        database, measure, then record, judge and check each side (into ``recorder``: the
        run's, or an equal-load phase's)."""
        recorder = recorder or self.recorder
        clones = []
        for spec in specs:
            made = repetition.clone(stage, spec, rep)
            check = fairness.check_clone(spec.name, rep, template, made.state)
            recorder.clone_checked(check, made.database, made.settings_hash)
            if not check.ok and not self.cfg.allow_unfair:
                self.judge(recorder)
                raise NotComparable(
                    f"The {spec.name} database (repetition {rep}) does not hold the template's "
                    "data or schema, so the run stopped before loading it (--allow-unfair "
                    "accepts it)."
                )
            clones.append(made)
        firsts = tuple(s.name not in recorder.record.variants for s in specs)
        if len(specs) == 1:
            observed = [repetition.one(stage, specs[0], clones[0], first=firsts[0])]
        else:
            observed = duet.together(stage, specs, tuple(clones), firsts)
        stage.progress.phase(f"repetition {rep}: recording")
        for spec, seen in zip(specs, observed, strict=True):
            recorder.variant_started(spec, seen)
            self._record(seen, recorder)

    def _record(self, seen: Observation, recorder: Recorder | None = None) -> None:
        result = seen.result
        (recorder or self.recorder).repetition(seen, integrity.entry(
            seen.variant, seen.repetition, creates=int(result.successful_creates_total),
            unfinished=result.unfinished_creates, rows_before=seen.rows_before,
            rows_after=seen.rows_after,
        ))  # fmt: skip

    # -- --target: an already running service -------------------------------------------------
    def measure_target(self) -> None:
        """Only what can be observed from here is recorded; the integrity check needs the
        service's own database (--database-url) and is otherwise reported as skipped."""
        cfg = self.cfg
        stage = target.TargetStage(cfg, self.plan, self.recorder.run_dir, self.stop,
                                   self.progress, self.hooks)  # fmt: skip
        targets = stage.targets
        url = redact(cfg.database_url) if cfg.database_url else None
        self.recorder.set(
            postgres=rec.PostgresRecord(mode="external-target", url=url),
            variants={label: rec.VariantRecord(
                framework="external", server="external",
                description=f"an already running service at {target_url}",
                target_url=target_url, axes={"server": "external"},
            ) for label, target_url in targets.items()},
        )  # fmt: skip
        names = ", ".join(targets)
        self.recorder.warn(
            f"{names} {'is an external target' if len(targets) == 1 else 'are external targets'}: "
            "the service's CPU, workers, connections and data were not observed; those fairness "
            "rules are reported as not checked"
        )
        for rep, (label,) in schedule(cfg):  # A B, B A, … as for started variants
            if self.stop.is_set():
                raise KeyboardInterrupt
            seen, checks = target.one(stage, rep, label)
            if label not in self.recorder.record.verify:
                self.recorder.set(verify={**self.recorder.record.verify, label: checks})
            self._record(seen)
            self.recorder.save()

    # -- judge --------------------------------------------------------------------------------
    def judge(self, recorder: Recorder | None = None) -> None:
        """The fairness rules over everything recorded so far (in ``recorder``: the run's, or
        an equal-load phase's)."""
        recorder = recorder or self.recorder
        summary = fairness.summarise(fairness.judge(recorder.record), allowed=self.cfg.allow_unfair)
        if self.cfg.target_url:
            summary = fairness.for_target(summary)
        recorder.set(fairness=summary)


def _version(package: str) -> str:
    try:
        return package_version(package)
    except PackageNotFoundError:
        return "(version unknown)"


def _cache_record(
    cache: cache_mod.ValkeyServer | cache_mod.ExternalCache, *, external: bool
) -> rec.CacheRecord:
    if external:
        return rec.CacheRecord(mode="external", url=cache.url, stats={})
    return rec.CacheRecord(mode="embedded", url=cache.url, version=cache.version(), stats={})
