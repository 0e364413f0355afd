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
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from chatbench.analysing import fairness, integrity
from chatbench.analysing.fairness import NotComparable
from chatbench.configuration.paths import CROSSCHECK_DIR, POSTGRESQL_CONF, SCHEMA_SQL
from chatbench.configuration.settings import RunConfig
from chatbench.configuration.urls import redact
from chatbench.configuration.variants import VariantSpec
from chatbench.errors import ChatbenchError, Interrupted
from chatbench.load.health import invalid_message
from chatbench.measuring import control, duet, profiling, repetition, sqlwork, target
from chatbench.measuring.profiling import STACKS
from chatbench.measuring.repetition import Observation, Stage
from chatbench.measuring.schedule import schedule
from chatbench.measuring.watch import Progress, RunHooks, Silent
from chatbench.provisioning import cache as cache_mod
from chatbench.provisioning import cpuplan, postgres
from chatbench.provisioning.provision import Provisioned, provision
from chatbench.provisioning.seed import SeedSpec
from chatbench.serving import profiler
from chatbench.storing import crosschecks
from chatbench.storing import record as rec
from chatbench.storing.recording import Recorder, header


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
    plan = cpuplan.make_plan(cfg.server_cpus, cfg.loadgen_cpus)
    run_id = run_id or new_run_id(cfg.variants)
    run_dir = Path(cfg.out_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    cited = crosschecks.latest_for(CROSSCHECK_DIR, cfg.scenario, list(cfg.variants))
    recorder = Recorder(run_dir, header(cfg, plan, run_id=run_id, crosscheck=cited,
                                        question=question or default_question(cfg), suite=suite))  # fmt: skip
    if not plan.pinned:
        recorder.warn(f"CPU pinning off: {plan.note}")
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
    if found.comparable or cfg.allow_unfair:
        return
    lines = [invalid_message(x.variant, x.repetition, x.reason) for x in outcome.record.invalid_repetitions]  # fmt: skip
    raise NotComparable(
        f"The run is not comparable: fairness rule(s) violated: {', '.join(found.violated)} "
        f"(see the Fairness section of {outcome.run_dir / 'report.html'}; --allow-unfair "
        "accepts it).",
        detail="\n".join(lines) or None,
    )


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
            if cfg.cpu_profile:
                self._profile(stage, tuple(specs.values()))
            end = postgres.settings_hash(postgres.settings(ready.template_url))
            self.recorder.evidence(pg_settings_hash_end=end)

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
               specs: tuple[VariantSpec, ...]) -> None:  # fmt: skip
        """One repetition of one variant (or of a duet's pair): clone and check each
        database, measure, then record, judge and check each side."""
        clones = []
        for spec in specs:
            made = repetition.clone(stage, spec, rep)
            check = fairness.check_clone(spec.name, rep, template, made.state)
            self.recorder.clone_checked(check, made.database, made.settings_hash)
            if not check.ok and not self.cfg.allow_unfair:
                self.judge()
                raise NotComparable(
                    f"The {spec.name} database (repetition {rep}) does not hold the template's "
                    "data or schema, so the run stopped before loading it (--allow-unfair "
                    "accepts it)."
                )
            clones.append(made)
        firsts = tuple(s.name not in self.recorder.record.variants for s in specs)
        if len(specs) == 1:
            observed = [repetition.one(stage, specs[0], clones[0], first=firsts[0])]
        else:
            observed = duet.together(stage, specs, tuple(clones), firsts)
        for spec, seen in zip(specs, observed, strict=True):
            self.recorder.variant_started(spec, seen)
            self._record(seen)

    def _record(self, seen: Observation) -> None:
        result = seen.result
        self.recorder.repetition(seen, integrity.entry(
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
        label = stage.label
        url = redact(cfg.database_url) if cfg.database_url else None
        self.recorder.set(
            postgres=rec.PostgresRecord(mode="external-target", url=url),
            variants={label: rec.VariantRecord(
                framework="external", server="external",
                description=f"an already running service at {cfg.target_url}",
                target_url=cfg.target_url, axes={"server": "external"},
            )},
        )  # fmt: skip
        self.recorder.warn(
            f"{label} is an external target: the service's CPU, workers, connections and data "
            "were not observed; those fairness rules are reported as not checked"
        )
        for rep in range(1, cfg.repeat + 1):
            if self.stop.is_set():
                raise KeyboardInterrupt
            seen, checks = target.one(stage, rep)
            if label not in self.recorder.record.verify:
                self.recorder.set(verify={**self.recorder.record.verify, label: checks})
            self._record(seen)
            self.recorder.save()

    # -- judge --------------------------------------------------------------------------------
    def judge(self) -> None:
        """The fairness rules over everything recorded so far."""
        summary = fairness.summarise(
            fairness.judge(self.recorder.record), allowed=self.cfg.allow_unfair
        )
        if self.cfg.target_url:
            summary = fairness.for_target(summary)
        self.recorder.set(fairness=summary)


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
