"""`chatbench run`: provision → (for each repetition, each variant, interleaved) clone, serve,
verify, warm up, measure, stop, check integrity → summarise, chart, report.

This module orchestrates; every step is done by the module that owns it (postgres, servers,
loadgen, results, charts, report). Data flows one way and everything started here is stopped
here, on success, failure and Ctrl-C alike. The run directory is rewritten atomically after
every repetition, so an interrupted run keeps what it collected and says it is incomplete.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from chatbench import (
    cpuplan,
    crosscheck,
    evidence,
    fairness,
    metadata,
    postgres,
    servers,
    sqlwork,
    verify,
)
from chatbench import variants as variants_mod
from chatbench.config import RunConfig, split_scenario
from chatbench.errors import (
    ChatbenchError,
    IntegrityError,
    Interrupted,
    LoadgenError,
    ServerError,
)
from chatbench.fairness import NotComparable

FORMAT_VERSION = 1
SAMPLE_COLUMNS = [
    "variant", "repetition", "role", "t_s", "wall", "cpu_seconds", "cpu_percent", "rss_bytes",
    "processes", "threads",
]  # fmt: skip


def integrity_holds(creates: int, actual: int, unfinished: int) -> bool:
    """Nothing lost, nothing invented: every successful create is a row, and any extra row is
    one of the POSTs Locust cut off at stop (sent, maybe committed, response never seen)."""
    return creates <= actual <= creates + max(0, unfinished)


class Progress(Protocol):
    """What the runner tells whoever is watching (the CLI draws it with rich)."""

    def phase(self, text: str) -> None: ...

    def advance(self, seconds: float) -> None: ...


class _Silent:
    def phase(self, text: str) -> None:
        pass

    def advance(self, seconds: float) -> None:
        pass


@dataclass
class RunHooks:
    """Extension points for tests (fault injection), called from the run's own thread.

    ``after_load(variant, repetition, database_url)``: after the load, before the integrity
    check (``database_url`` is None for a ``--target`` run without ``--database-url``).
    ``during_load(variant, repetition, server_pid, elapsed_s)``: about twice a second while
    Locust runs (``server_pid`` is None for a ``--target`` run).
    """

    after_load: Callable[[str, int, str | None], None] | None = None
    # after_clone(variant, repetition, database_url): before the identical-data check
    after_clone: Callable[[str, int, str], None] | None = None
    during_load: Callable[[str, int, int | None, float], None] | None = None


@dataclass
class RunOutcome:
    run_dir: Path
    status: str
    integrity: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def new_run_id(variants: tuple[str, ...]) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{'-vs-'.join(variants)[:60]}-{secrets.token_hex(2)}"


# Measured on the 2-core reference VM (2026-11-30, `chatbench run`, quick profile: 10
# repetitions of 2 + 6 s in 110 s wall, report included): per variant and repetition, clone +
# start + contract check + SQL profile + Locust start/stop + service stop ≈ 2 s (3 s kept as
# headroom); per run, Postgres + seeding + summary, charts and report ≈ 10 s. The progress
# bar's "time left" and the make-bench budget use these.
OVERHEAD_PER_REPETITION_S = 3.0
OVERHEAD_PER_RUN_S = 10.0
CONTROL_START_S = 0.5  # starting the pinned probe process, connecting
# A duet's shared start is this far after its Locusts are launched: both must have imported and
# started their users before it (1.4 s on the 2-core reference machine under a ci check); the
# warm-up follows it, and the fairness rule checks that each side had requests before its window.
DUET_LEAD_S = 3.0


def planned_seconds(cfg: RunConfig) -> float:
    """Expected wall time of a run (load + measured overheads), for progress and budgets."""
    measured = cfg.warmup_s + (
        len(cfg.ramp_steps) * cfg.ramp_step_s if cfg.mode == "ramp" else cfg.duration_s
    )
    per = measured + OVERHEAD_PER_REPETITION_S
    total = per * cfg.repeat * len(cfg.variants) + OVERHEAD_PER_RUN_S
    if cfg.duet:  # each pair loads at once, after both services started
        pair = measured + DUET_LEAD_S + 2 * OVERHEAD_PER_REPETITION_S
        total = pair * cfg.repeat * (len(cfg.variants) // 2) + OVERHEAD_PER_RUN_S
    if not cfg.target_url:  # a local run probes the machine once per repetition round
        from chatbench import control

        total += cfg.repeat * (control.probe_seconds(cfg.duration_s) + CONTROL_START_S)
    return total


def interleaved_order(variant_names: tuple[str, ...], repeat: int) -> list[tuple[int, str]]:
    """A B, B A, A B, … : alternating order so slow drift of the machine hits every variant alike."""
    order = []
    for rep in range(1, repeat + 1):
        names = variant_names if rep % 2 == 1 else tuple(reversed(variant_names))
        order.extend((rep, name) for name in names)
    return order


def duet_pairs(variant_names: tuple[str, ...], repeat: int) -> list[tuple[int, tuple[str, ...]]]:
    """The duet schedule: consecutive names pair up (``X@base``, ``X@head``); each repetition
    runs every pair once, pairs and the two sides' start order alternating with the
    repetition, as ``interleaved_order`` does for single variants."""
    pairs = [tuple(variant_names[i : i + 2]) for i in range(0, len(variant_names), 2)]
    order = []
    for rep in range(1, repeat + 1):
        flip = rep % 2 == 0
        for pair in reversed(pairs) if flip else pairs:
            order.append((rep, tuple(reversed(pair)) if flip else pair))
    return order


class _Aborted(Exception):
    """One side of a duet stopped early because the other side failed (never reported alone)."""


@dataclass
class _Side:
    """One variant's repetition in progress: what ``_prepare`` made and ``_record`` needs."""

    spec: variants_mod.VariantSpec
    tag: str
    rep_dir: Path
    server_url: str  # the Postgres server (for pg_stat_activity), not the variant's database
    db_url: str
    checksum: str
    server: servers.RunningServer
    rows_before: int
    load_spec: object
    conns: object = None
    peak_conns: int = 0
    server_samples: list = field(default_factory=list)
    statements: object = None
    rows_after: int = 0


class Run:
    """One benchmark run's state and its run directory."""

    def __init__(
        self,
        cfg: RunConfig,
        *,
        progress: Progress | None = None,
        hooks: RunHooks | None = None,
        run_id: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.progress = progress or _Silent()
        self.hooks = hooks or RunHooks()
        self.run_id = run_id or new_run_id(cfg.variants)
        self.run_dir = Path(cfg.out_dir) / self.run_id
        self.samples: list[dict] = []
        self.meta: dict = {}
        self.stop_event = threading.Event()
        self.cache = None

    # -- run directory -------------------------------------------------------------
    def _write_meta(self) -> None:
        from chatbench.results import write_json_atomic

        write_json_atomic(self.run_dir / "meta.json", self.meta)

    def _write_samples(self) -> None:
        from chatbench.results import write_text_atomic

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=SAMPLE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.samples)
        write_text_atomic(self.run_dir / "samples.csv", buf.getvalue())

    def _init_meta(self, plan: cpuplan.CpuPlan) -> None:
        versions = metadata.package_versions()
        self.meta = {
            "format_version": FORMAT_VERSION,
            "run_id": self.run_id,
            "status": "running",
            "started_at": datetime.now(UTC).isoformat(),
            "finished_at": None,
            "question": (
                f"For a ChatMessage API on PostgreSQL, how do {', '.join(self.cfg.variants)} compare "
                f"under the {self.cfg.scenario} scenario in {self.cfg.mode} mode?"
            ),
            "config": self.cfg.as_dict(),
            "versions": metadata.key_versions(versions),
            "packages": versions,
            "git": metadata.git_info(),
            "machine": metadata.machine_info(),
            "cpu_plan": plan.as_dict(),
            "variants": {},
            "postgres": {},
            "repetitions": [],
            "integrity": [],
            "verify": {},
            "warnings": [],
            "error": None,
            "evidence": {
                "peak_connections": {},
                "loadgen_health": {},
                "sql": {},
                "sql_per_endpoint": {},
                "clone_checks": [],
                "pg_settings_by_db": {},
                "affinity": {},
                "service_probes": {},
                "order": [],
                "windows": {},
            },
            "fairness": {},
            # Which Locust/wrk cross-check (committed under results/crosscheck/) vouches for
            # the load generator on this scenario and these variants; None: none exists.
            "crosscheck": crosscheck.latest_for(
                crosscheck.COMMITTED_DIR, self.cfg.scenario, list(self.cfg.variants)
            ),
        }

    # -- the run ---------------------------------------------------------------------
    def execute(self) -> RunOutcome:
        cfg = self.cfg
        plan = cpuplan.make_plan(cfg.server_cpus, cfg.loadgen_cpus)
        self.run_dir.mkdir(parents=True, exist_ok=False)
        self._init_meta(plan)
        if not plan.pinned:
            self.meta["warnings"].append(f"CPU pinning off: {plan.note}")
        self._write_meta()
        status = "failed"
        try:
            if cfg.target_url:
                self._run_target(plan)
            else:
                self._run_local(plan)
            self._judge_fairness()
            self._check_integrity()
            status = "complete"
        except KeyboardInterrupt:
            status = "incomplete"
            self.meta["error"] = "interrupted by the user (Ctrl-C)"
            raise Interrupted(
                f"Interrupted; partial results kept in {self.run_dir} (marked incomplete)."
            ) from None
        except ChatbenchError as exc:
            self.meta["error"] = str(exc) + (f"\n{exc.detail}" if exc.detail else "")
            raise
        finally:
            self.meta["status"] = status
            self.meta["finished_at"] = datetime.now(UTC).isoformat()
            self._write_samples()
            self._write_meta()
        self.progress.phase("summarising, drawing charts, writing the report")
        sqlwork.write_csv(self.run_dir, self.meta)
        self._analyse()
        fairness_meta = self.meta["fairness"]
        if not fairness_meta.get("comparable", True) and not self.cfg.allow_unfair:
            raise NotComparable(
                f"The run is not comparable: fairness rule(s) violated: {', '.join(fairness_meta['violated'])} "
                f"(see the Fairness section of {self.run_dir / 'report.html'}; --allow-unfair accepts it).",
                detail=_invalid_lines(self.meta),
            )
        return RunOutcome(self.run_dir, status, self.meta["integrity"], self.meta["warnings"])

    def _run_local(self, plan: cpuplan.CpuPlan) -> None:
        """Provision Postgres (and Valkey), then every variant × repetition, interleaved."""
        cfg = self.cfg
        with contextlib.ExitStack() as stack:
            server_url = self._provision(stack, plan)
            self._provision_cache(stack)
            probed = 0
            if cfg.duet:
                schedule = duet_pairs(cfg.variants, cfg.repeat)
            else:
                schedule = [
                    (rep, (name,)) for rep, name in interleaved_order(cfg.variants, cfg.repeat)
                ]
            for rep, names in schedule:
                if self.stop_event.is_set():
                    raise KeyboardInterrupt
                if rep != probed:  # once per repetition round, before its variants load
                    self._control(server_url, plan, rep)
                    probed = rep
                specs = tuple(variant_spec(n) for n in names)
                if len(specs) == 1:
                    self._one(server_url, plan, rep, specs[0])
                else:
                    self._duet(server_url, plan, rep, specs)
                self._write_meta()
                self._write_samples()
            self.meta["evidence"]["pg_settings_hash_end"] = _settings_hash(
                postgres.settings(postgres.with_database(server_url, postgres.TEMPLATE_DB))
            )

    def _control(self, server_url: str, plan: cpuplan.CpuPlan, rep: int) -> None:
        """The control probe of one repetition round (see ``chatbench.control``): the
        machine's speed now, so a metric can be expressed relative to it. A failed probe is
        recorded and warned about; it never fails the run (only normalised figures are lost)."""
        from chatbench import control

        seconds = control.probe_seconds(self.cfg.duration_s)
        section = self.meta.setdefault(
            "control", {"probe": control.DESCRIPTION, "seconds": seconds, "repetitions": []}
        )
        self.progress.phase(f"control probe for repetition {rep}: {seconds:g} s")
        template_url = postgres.with_database(server_url, postgres.TEMPLATE_DB)
        try:
            result = control.measure(
                template_url, seconds=seconds, cpus=plan.server if plan.pinned else None
            )
            entry = {"repetition": rep, **result.as_dict()}
        except control.ControlError as exc:
            entry = {"repetition": rep, "error": str(exc)}
            self.meta["warnings"].append(
                f"control probe of repetition {rep} failed ({exc}); normalised figures are "
                "not available for it"
            )
        finally:
            # The probe's statements are the template's, never a variant's; forget them anyway.
            with contextlib.suppress(ChatbenchError):
                sqlwork.reset(template_url)
        section["repetitions"].append(entry)

    def _run_target(self, plan: cpuplan.CpuPlan) -> None:
        """Measure an already running service at --target: nothing is provisioned or started.

        Only what can be observed from here is recorded; the integrity check needs the
        service's own database (--database-url) and is otherwise reported as skipped.
        """
        cfg = self.cfg
        label = cfg.variant_label or "target"
        self.meta["postgres"] = {"mode": "external-target", "url": None}
        if cfg.database_url:
            self.meta["postgres"]["url"] = postgres.redact(cfg.database_url)
        self.meta["variants"][label] = {
            "framework": "external",
            "server": "external",
            "description": f"an already running service at {cfg.target_url}",
            "target_url": cfg.target_url,
            "axes": {"server": "external"},
        }
        self.meta["warnings"].append(
            f"{label} is an external target: the service's CPU, workers, connections and data "
            "were not observed; those fairness rules are reported as not checked"
        )
        for rep in range(1, cfg.repeat + 1):
            if self.stop_event.is_set():
                raise KeyboardInterrupt
            self._one_target(plan, rep, label)
            self._write_meta()
            self._write_samples()

    def _one_target(self, plan: cpuplan.CpuPlan, rep: int, label: str) -> None:
        cfg = self.cfg
        tag = f"{label} (repetition {rep}/{cfg.repeat})"
        rep_dir = self.run_dir / "raw" / label / f"rep-{rep}"
        rep_dir.mkdir(parents=True, exist_ok=True)
        self.progress.phase(f"{tag}: contract smoke check of {cfg.target_url}")
        checks = verify.require(cfg.target_url, label)
        self.meta["verify"].setdefault(label, [c.name for c in checks])
        db_url = cfg.database_url
        rows_before = postgres.row_count(db_url) if db_url else None
        self.progress.phase(
            f"{tag}: warm-up {cfg.warmup_s:g} s, then measuring {cfg.duration_s:g} s"
        )
        last = [time.monotonic()]

        def on_tick(tick: object) -> None:
            now = time.monotonic()
            self.progress.advance(now - last[0])
            last[0] = now
            if self.hooks.during_load:
                self.hooks.during_load(label, rep, None, float(getattr(tick, "elapsed_s", 0.0)))

        never = threading.Event()
        result = _measure(
            self._load_spec(cfg.target_url, plan), rep_dir, on_tick, never, self.stop_event
        )
        if self.hooks.after_load:
            self.hooks.after_load(label, rep, db_url)
        creates = int(result.successful_creates_total)
        if db_url:
            rows_after = postgres.row_count(db_url)
            actual = rows_after - rows_before
            entry = {
                "ok": integrity_holds(creates, actual, result.unfinished_creates),
                "rows_before": rows_before,
                "rows_after": rows_after,
                "unfinished_creates": result.unfinished_creates,
            }
        else:
            actual = None
            entry = {"ok": True, "skipped": "no --database-url for the target's database"}
        self.meta["integrity"].append(
            {"variant": label, "repetition": rep, "expected": creates, "actual": actual, **entry}
        )
        self.meta["repetitions"].append(
            {"variant": label, "repetition": rep, "locust_returncode": result.locust_returncode}
        )
        loadgen_samples = list(getattr(result, "samples", []) or [])
        self._add_samples(label, rep, "loadgen", loadgen_samples)
        self._check_loadgen(label, rep, result)

    def _load_spec(self, target_url: str, plan: cpuplan.CpuPlan, scenario: str | None = None):
        from chatbench import loadgen

        cfg = self.cfg
        return loadgen.LoadSpec(
            target_url=target_url,
            scenario=scenario or cfg.scenario,
            mode=cfg.mode,
            users=cfg.users,
            rate=cfg.rate,
            duration_s=cfg.duration_s,
            warmup_s=cfg.warmup_s,
            spawn_rate=cfg.spawn_rate,
            ramp_steps=cfg.ramp_steps,
            ramp_step_s=cfg.ramp_step_s,
            processes=cfg.loadgen_processes,
            seed_sessions=cfg.seed_sessions,
            seed_messages=cfg.seed_messages,
            cpus=plan.loadgen if plan.pinned else None,
            yield_cpu=plan.loadgen_yields,
        )

    def _provision(self, stack: contextlib.ExitStack, plan: cpuplan.CpuPlan) -> str:
        cfg = self.cfg
        seed = postgres.SeedSpec(cfg.seed_sessions, cfg.seed_messages, cfg.seed)
        if cfg.database_url:
            self.progress.phase("connecting to the PostgreSQL server in DATABASE_URL")
            server_url = cfg.database_url
            postgres.wait_ready(server_url, timeout_s=15)
            pg_meta = {"mode": "external", "url": postgres.redact(server_url)}
        else:
            self.progress.phase("starting embedded PostgreSQL")
            cluster = stack.enter_context(postgres.EmbeddedCluster.start())
            server_url = cluster.url
            if plan.pinned and cluster.postmaster_pid:
                # Backends fork from the postmaster and inherit its mask; the auxiliary
                # processes (checkpointer, walwriter, …) already exist, so pin them too.
                for proc in servers.process_tree(cluster.postmaster_pid):
                    with contextlib.suppress(OSError):
                        cpuplan.pin(proc.pid, plan.loadgen)
            pg_meta = {
                "mode": "embedded",
                "version": postgres.server_version(),
                "port": cluster.port,
                "postmaster_pid": cluster.postmaster_pid,
                "affinity": list(cpuplan.affinity(cluster.postmaster_pid) or []),
            }
        self.progress.phase(
            f"seeding the template: {seed.sessions} sessions × {seed.messages} messages"
        )
        template_url = postgres.create_template(server_url, seed)
        stack.callback(self._drop_databases, server_url)
        pg_meta.update(
            {
                "config_file": "postgres/postgresql.conf",
                "config_sha256": postgres.file_sha256(postgres.POSTGRESQL_CONF),
                "schema_sha256": postgres.file_sha256(postgres.SCHEMA_SQL),
                "template_rows": postgres.row_count(template_url),
                "template_checksum": postgres.data_checksum(template_url),
                "settings": (pg_settings := postgres.settings(template_url)),
                "seed": {"sessions": seed.sessions, "messages": seed.messages, "seed": seed.seed},
            }
        )
        self.meta["postgres"] = pg_meta
        self.meta["evidence"]["pg_settings_hash_start"] = _settings_hash(pg_settings)
        self._template = {"checksum": pg_meta["template_checksum"]}
        self._template["schema"] = postgres.schema_dump(template_url)
        self._write_meta()
        return server_url

    def _drop_databases(self, server_url: str) -> None:
        # Only matters on a user's server; the embedded cluster is removed whole.
        if not self.cfg.database_url:
            return
        for name in [*(_db_name(v) for v in self.cfg.variants), postgres.TEMPLATE_DB]:
            try:
                postgres.drop_database(server_url, name)
            except Exception as exc:  # cleanup must not hide the run's own outcome
                self.meta["warnings"].append(f"could not drop database {name}: {exc}")

    def _provision_cache(self, stack: contextlib.ExitStack) -> None:
        """A Valkey server when any variant has cache=valkey (or the user's --cache-url)."""
        self.cache = None
        specs = [variant_spec(n) for n in self.cfg.variants]
        if not any(s.axes.get("cache") == "valkey" for s in specs):
            return
        from chatbench import cache

        if self.cfg.cache_url:
            self.cache = cache.external(self.cfg.cache_url)
            self.meta["cache"] = {"mode": "external", "url": self.cfg.cache_url}
        else:
            self.progress.phase("starting embedded Valkey")
            base = Path(tempfile.mkdtemp(prefix="chatbench-valkey-"))
            self.cache = stack.enter_context(
                cache.ValkeyServer.start(base, cpus=cache.plan_cpus(self.meta["cpu_plan"]))
            )
            self.meta["cache"] = {
                "mode": "embedded",
                "url": self.cache.url,
                "version": self.cache.version(),
            }
        self.meta["cache"]["stats"] = {}

    def _one(
        self, server_url: str, plan: cpuplan.CpuPlan, rep: int, spec: variants_mod.VariantSpec
    ) -> None:
        """One variant's repetition: its own clone, its service, its load, alone on its CPUs."""
        with contextlib.ExitStack() as stack:
            side = self._prepare(stack, server_url, plan, rep, spec)
            result = self._load(side, rep, advance=True, announce=True)
            self._after_load(side, rep, result)
        self._record(side, rep, result)

    def _duet(
        self,
        server_url: str,
        plan: cpuplan.CpuPlan,
        rep: int,
        specs: tuple[variants_mod.VariantSpec, ...],
    ) -> None:
        """Both sides of a pair (``X@base``, ``X@head``) measured at the same time.

        Each side has its own clone, service and Locust, exactly as in ``_one``, but both
        services share the service CPUs and both Locusts load them in one wall-clock window
        (a shared ``start_at``): whatever the machine does during that window, it does to
        both. That is the point on a noisy runner, where throughput measured one after the
        other swings by tens of percent (see ``chatbench.ab``). Which side starts first
        alternates with the repetition (``duet_pairs``).
        """
        with contextlib.ExitStack() as stack:
            sides = [self._prepare(stack, server_url, plan, rep, spec) for spec in specs]
            start_at = time.time() + DUET_LEAD_S
            for side in sides:
                side.load_spec = dataclasses.replace(side.load_spec, start_at=start_at)
            names = " and ".join(s.spec.name for s in sides)
            self.progress.phase(
                f"{names} (repetition {rep}/{self.cfg.repeat}) at the same time: warm-up "
                f"{self.cfg.warmup_s:g} s, then measuring {self.cfg.duration_s:g} s"
            )
            results = self._load_together(sides, rep)
            for side, result in zip(sides, results, strict=True):
                self._after_load(side, rep, result)
        # One CPU set, one window: both sides get one reading of it (the busier of the two
        # samplers, which read the same counters a fraction of a second apart).
        shared = max((r.health.cpu_set for r in results), key=_busy_or_nan)
        for side, result in zip(sides, results, strict=True):
            self._record(side, rep, result, cpu_set=shared)

    def _load_together(self, sides: list[_Side], rep: int) -> list:
        """Run every side's load in its own thread; the first failure stops the others."""
        results: list = [None] * len(sides)
        errors: list[BaseException] = []
        failed = threading.Event()

        def one(i: int) -> None:
            try:
                results[i] = self._load(
                    sides[i], rep, advance=(i == 0), announce=False, also_abort=failed
                )
            except BaseException as exc:  # handed to the main thread below
                errors.append(exc)
                failed.set()

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(sides))]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(timeout=0.2)
        except BaseException:  # Ctrl-C here: every Locust is stopped before it propagates
            self.stop_event.set()
            for t in threads:
                t.join()
            raise
        if errors:
            real = [e for e in errors if not isinstance(e, _Aborted)]
            raise (real or errors)[0]
        return results

    def _prepare(
        self,
        stack: contextlib.ExitStack,
        server_url: str,
        plan: cpuplan.CpuPlan,
        rep: int,
        spec: variants_mod.VariantSpec,
    ) -> _Side:
        """Clone, check the clone, start the service (stopped by ``stack``), smoke-check it,
        count its SQL once, and make it ready to load."""
        cfg = self.cfg
        tag = f"{spec.name} (repetition {rep}/{cfg.repeat})"
        rep_dir = self.run_dir / "raw" / spec.name / f"rep-{rep}"
        rep_dir.mkdir(parents=True, exist_ok=True)
        self.progress.phase(f"{tag}: cloning the template database")
        db_url = postgres.clone_database(server_url, _db_name(spec.name))
        if self.hooks.after_clone:
            self.hooks.after_clone(spec.name, rep, db_url)
        checksum = self._check_clone(spec.name, rep, db_url)
        self.progress.phase(f"{tag}: starting the service")
        server_cpus = plan.server if plan.pinned else None
        server = servers.start_server(
            spec,
            database_url=db_url,
            port=postgres.free_port(),
            log_path=rep_dir / "service.log",
            cpus=server_cpus,
            extra_env=self._service_env(spec),
            db_max_connections=cfg.db_max_connections,
        )
        stack.callback(server.stop)
        self._record_variant(spec, server, plan)
        self.progress.phase(f"{tag}: contract smoke check")
        checks = verify.require(server.base_url, spec.name)
        self.meta["verify"].setdefault(spec.name, [c.name for c in checks])
        self.meta["evidence"]["service_probes"].setdefault(
            spec.name, evidence.probe_service(server.base_url)
        )
        if spec.name not in self.meta["evidence"]["sql_per_endpoint"]:
            self.progress.phase(f"{tag}: counting SQL per endpoint (pg_stat_statements)")
            self.meta["evidence"]["sql_per_endpoint"][spec.name] = sqlwork.profile_endpoints(
                server.base_url, db_url
            )
        rows_before = postgres.row_count(db_url)
        sqlwork.reset(db_url)
        load_spec = self._load_spec(server.base_url, plan, split_scenario(spec.name)[1])
        return _Side(
            spec, tag, rep_dir, server_url, db_url, checksum, server, rows_before, load_spec
        )

    def _load(
        self,
        side: _Side,
        rep: int,
        *,
        advance: bool,
        announce: bool,
        also_abort: threading.Event | None = None,
    ):
        """The load on one side, with its connection and resource samplers around it.

        ``advance``: this side moves the progress bar (one side of a duet only, or it would
        count the same seconds twice); ``announce``: it names its phase (a duet names both)."""
        cfg, spec, server = self.cfg, side.spec, side.server
        side.conns = sqlwork.ConnectionSampler(side.server_url, _db_name(spec.name))
        side.conns.start()
        sampler = server.start_sampling()
        if announce:
            self.progress.phase(
                f"{side.tag}: warm-up {cfg.warmup_s:g} s, then measuring {cfg.duration_s:g} s"
            )
        last = [time.monotonic()]
        server_died = threading.Event()

        def on_tick(tick: object) -> None:
            now = time.monotonic()
            if advance:
                self.progress.advance(now - last[0])
            last[0] = now
            if self.hooks.during_load:
                elapsed = float(getattr(tick, "elapsed_s", 0.0))
                self.hooks.during_load(spec.name, rep, server.pid, elapsed)
            if f"{spec.name}#{rep}" not in self.meta["evidence"]["affinity"]:
                self._read_affinity(f"{spec.name}#{rep}", server.pid)
            if not server.alive():
                server_died.set()

        abort = _AnyEvent(server_died, also_abort) if also_abort else server_died
        try:
            result = _measure(side.load_spec, side.rep_dir, on_tick, abort, self.stop_event)
        finally:
            side.server_samples = sampler.stop()
            side.peak_conns = side.conns.stop()
        server.check_alive()  # a service that died mid-run fails the run, clearly
        if self.stop_event.is_set():
            raise KeyboardInterrupt
        if result is None and also_abort is not None and also_abort.is_set():
            raise _Aborted(f"{spec.name}: stopped because the other side failed")
        if result is None:  # the load stopped because the service died
            raise ServerError(f"The {spec.name} service stopped answering during the load.")
        return result

    def _after_load(self, side: _Side, rep: int, result) -> None:
        """What must be read while the service still runs: its SQL, cache and row counts."""
        spec = side.spec
        side.statements = sqlwork.read(side.db_url)
        if spec.axes.get("cache") == "valkey" and self.cache is not None:
            self.meta["cache"]["stats"][f"{spec.name}#{rep}"] = self.cache.stats()
        if self.hooks.after_load:
            self.hooks.after_load(spec.name, rep, side.db_url)
        side.rows_after = postgres.row_count(side.db_url)

    def _record(self, side: _Side, rep: int, result, *, cpu_set=None) -> None:
        """Everything one repetition of one variant leaves in meta.json and samples.csv
        (``cpu_set``: a duet's shared reading of the load-generator CPU set)."""
        spec, rep_dir = side.spec, side.rep_dir
        rows_before, rows_after = side.rows_before, side.rows_after
        probes = self.meta["evidence"]["service_probes"].get(spec.name, {})
        probes["access_log_lines"] = probes.get("access_log_lines", 0) + (
            evidence.access_log_lines(rep_dir / "service.log")
        )
        creates = int(result.successful_creates_total)
        self.meta["integrity"].append(
            {
                "variant": spec.name,
                "repetition": rep,
                "rows_before": rows_before,
                "rows_after": rows_after,
                "expected": creates,
                "actual": rows_after - rows_before,
                "unfinished_creates": result.unfinished_creates,
                "ok": integrity_holds(creates, rows_after - rows_before, result.unfinished_creates),
            }
        )
        self.meta["repetitions"].append(
            {
                "variant": spec.name,
                "repetition": rep,
                "data_checksum": side.checksum,
                "locust_returncode": result.locust_returncode,
            }
        )
        ev = self.meta["evidence"]
        peak_conns, conns, server_samples = side.peak_conns, side.conns, side.server_samples
        ev["peak_connections"][spec.name] = max(
            ev["peak_connections"].get(spec.name, 0), peak_conns
        )
        # A repetition whose sampler never read pg_stat_activity leaves the cap unchecked.
        counts = ev.setdefault("connection_samples", {})
        counts[spec.name] = min(counts.get(spec.name, conns.samples), conns.samples)
        observed = max((int(r.get("processes", 0)) for r in server_samples), default=0)
        threads = max((int(r.get("threads", 0)) for r in server_samples), default=0)
        recorded = self.meta["variants"][spec.name]
        recorded["processes_observed"] = max(recorded.get("processes_observed") or 0, observed)
        recorded["threads_observed"] = max(recorded.get("threads_observed") or 0, threads)
        ok_requests = _successful_requests(result)
        ev["sql"].setdefault(spec.name, []).append(
            {
                "repetition": rep,
                **sqlwork.per_request(
                    side.statements,
                    ok_requests,
                    endpoint_requests=_successful_by_endpoint(result),
                    profile=ev["sql_per_endpoint"].get(spec.name),
                ),
            }
        )
        ev["order"].append(f"{spec.name}#{rep}")
        ev["windows"][f"{spec.name}#{rep}"] = _window(result)
        self._add_samples(spec.name, rep, "server", server_samples)
        self._add_samples(spec.name, rep, "loadgen", getattr(result, "samples", []) or [])
        self._check_loadgen(spec.name, rep, result, cpu_set=cpu_set)

    def _check_clone(self, variant: str, rep: int, db_url: str) -> str:
        """Identical data, checked before the service starts: md5 of the rows + schema dump.

        A mismatch stops the run here (nothing of this variant is measured) unless the user
        allowed unfair runs; Postgres's settings as this database sees them are recorded too.
        """
        clone = {"checksum": postgres.data_checksum(db_url), "schema": postgres.schema_dump(db_url)}
        check = fairness.check_clone(variant, rep, self._template, clone)
        ev = self.meta["evidence"]
        ev["clone_checks"].append(check)
        ev["pg_settings_by_db"][_db_name(variant)] = _settings_hash(postgres.settings(db_url))
        if not fairness.clone_ok(check) and not self.cfg.allow_unfair:
            self._judge_fairness()
            raise NotComparable(
                f"The {variant} database (repetition {rep}) does not hold the template's data "
                "or schema, so the run stopped before loading it (--allow-unfair accepts it)."
            )
        return clone["checksum"]

    def _read_affinity(self, key: str, server_pid: int) -> None:
        """CPU masks of the live service tree, Locust and Postgres, read once under load."""
        loadgen_mask = evidence.locust_affinity()
        if loadgen_mask is None:
            return  # Locust not started yet: try again on the next tick
        self.meta["evidence"]["affinity"][key] = {
            "service": evidence.tree_affinity(server_pid),
            "loadgen": loadgen_mask,
            "postgres": evidence.tree_affinity(self.meta["postgres"].get("postmaster_pid")),
            "loadgen_policy": evidence.locust_policies(),
        }

    def _service_env(self, spec: variants_mod.VariantSpec) -> dict[str, str]:
        env = dict(self.cfg.service_env.get(spec.name, {}))
        if spec.axes.get("cache") == "valkey" and self.cache is not None:
            # Every repetition starts cold: no variant inherits another's cached pages.
            self.cache.flush()
            env["CHATBENCH_CACHE_URL"] = self.cache.url
        return env

    def _record_variant(
        self, spec: variants_mod.VariantSpec, server: servers.RunningServer, plan: cpuplan.CpuPlan
    ) -> None:
        if spec.name in self.meta["variants"]:
            return
        env = {k: (postgres.redact(v) if k == "DATABASE_URL" else v) for k, v in server.env.items()}
        tree = servers.process_tree(server.pid)
        self.meta["variants"][spec.name] = {
            "framework": spec.framework,
            "server": spec.server,
            "description": spec.description,
            "command": " ".join(spec.args),
            # Which Python ran it: an A/B base side may run in an environment built from its
            # own pins, and the command alone would not say so.
            "interpreter": spec.command()[0],
            "env": env,
            "workers": int(env["CHATBENCH_WORKERS"]),
            "threads": int(env["CHATBENCH_THREADS"]),
            "db_max_connections": int(env["CHATBENCH_DB_MAX_CONNECTIONS"]),
            "axes": {
                "server": spec.server,
                "pool": env.get("CHATBENCH_DB_POOL", "persistent"),
                "cache": "valkey" if env.get("CHATBENCH_CACHE_URL") else "off",
                "workers": env["CHATBENCH_WORKERS"],
            },
            "processes_observed": len(tree),
            "affinity_observed": sorted({c for p in tree for c in (cpuplan.affinity(p.pid) or ())}),
        }

    def _add_samples(self, variant: str, rep: int, role: str, rows: list[dict]) -> None:
        for row in rows:
            self.samples.append({"variant": variant, "repetition": rep, "role": role, **row})

    def _check_loadgen(self, variant: str, rep: int, result, *, cpu_set=None) -> None:
        """Judge the load generator over the MEASURED window (``loadhealth.LoadgenHealth``: the
        busy share of its whole CPU set, and each Locust process's event-loop lag); record the
        evidence and the CPU set's samples, and mark a repetition that broke a limit invalid.

        Locust's own warning needs 90 % of one process's CPU over 10 s, so a short run, or a
        Locust sharing its core with Postgres, saturates silently; this is the one rule the
        report's Warnings, the fairness rule and ``check``/``compare`` go by."""
        health = result.health if cpu_set is None else result.health.with_cpu_set(cpu_set)
        self.meta["evidence"]["loadgen_health"][f"{variant}#{rep}"] = health.as_dict()
        self._add_samples(variant, rep, "loadgen_cpus", list(result.cpu_set_samples))
        if health.valid:
            return
        from chatbench.loadhealth import invalid_message

        reason = "loadgen saturated: " + "; ".join(health.problems)
        self.meta["warnings"].append(invalid_message(variant, rep, reason))
        self.meta.setdefault("invalid_repetitions", []).append(
            {"variant": variant, "repetition": rep, "reason": reason}
        )

    def _judge_fairness(self) -> None:
        rules = fairness.judge(self.meta)
        self.meta["fairness"] = fairness.summarise(rules, allowed=self.cfg.allow_unfair)
        if self.cfg.target_url:
            self.meta["fairness"] = _unchecked_for_target(self.meta["fairness"])

    def _check_integrity(self) -> None:
        bad = [r for r in self.meta["integrity"] if not r["ok"]]
        if bad:
            lines = "; ".join(
                f"{r['variant']} rep {r['repetition']}: {r['actual']} rows written vs {r['expected']} successful creates"
                for r in bad
            )
            raise IntegrityError(f"Integrity check failed: {lines}.")

    def _analyse(self) -> None:
        from chatbench import results

        try:
            results.rebuild(self.run_dir)
        except ChatbenchError:
            raise
        except Exception as exc:  # the raw data is safe; say what failed and keep going
            self.meta["warnings"].append(f"report generation failed: {type(exc).__name__}: {exc}")
            self._write_meta()
            raise ServerError(
                f"The run finished but its report could not be written: {exc}"
            ) from exc


def _measure(load_spec, rep_dir: Path, on_tick, abort: threading.Event, stop: threading.Event):
    """Run the load; None when ``abort`` (the service died) ended it early.

    Locust's own errors become a chatbench LoadgenError (one sentence + log tail), so the CLI
    prints them instead of a traceback.
    """
    from chatbench import loadgen

    either = _AnyEvent(abort, stop)
    try:
        return loadgen.run_load(load_spec, rep_dir, on_tick=on_tick, stop_event=either)
    except loadgen.LoadgenInterrupted:
        if stop.is_set():
            raise KeyboardInterrupt from None
        return None
    except loadgen.LoadgenError as exc:
        raise LoadgenError(f"Locust failed: {exc.message}.", detail=exc.log_tail or None) from None


class _AnyEvent:
    """Looks like a threading.Event that is set when any of its events is."""

    def __init__(self, *events: threading.Event) -> None:
        self._events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


# What a --target run can still observe: the load generator runs here.
TARGET_CHECKABLE_RULES = frozenset({"loadgen_headroom"})


def _unchecked_for_target(summary: dict) -> dict:
    """Rules about a service we neither started nor watched say "not checked", never "held"."""
    rules = []
    for rule in summary.get("rules", []):
        if rule.get("name") not in TARGET_CHECKABLE_RULES:
            rule = {
                **rule,
                "held": None,
                "verdict": "not checked",
                "evidence": "external target: not observable from the load generator",
            }
        rules.append(rule)
    violated = [r["name"] for r in rules if r.get("held") is False]
    return {
        **summary,
        "rules": rules,
        "violated": violated,
        "not_checked": [r["name"] for r in rules if r.get("held") is None],
        "comparable": not violated,
        "overridden": bool(violated) and bool(summary.get("overridden")),
    }


def _invalid_lines(meta: dict) -> str | None:
    """Which repetitions are invalid and why, one line each (None when none is)."""
    from chatbench.loadhealth import invalid_message

    lines = [
        invalid_message(x["variant"], x["repetition"], x["reason"])
        for x in meta.get("invalid_repetitions") or []
    ]
    return "\n".join(lines) or None


def _busy_or_nan(cpu_set) -> float:
    """Sort key: the busier reading wins; an unmeasured (NaN) one never does."""
    return cpu_set.busiest_pct if cpu_set.measured else -1.0


def _successful_by_endpoint(result) -> dict[str, int]:
    """Successful requests per endpoint over the whole load (warm-up, measured and drain): the
    window pg_stat_statements saw, since its statistics are reset before the warm-up."""
    measured = getattr(result, "measured", None) or {}
    counts = measured.get("totals") or measured.get("endpoints", {})
    return {ep: int(c.get("count", 0)) - int(c.get("failures", 0)) for ep, c in counts.items()}


def _successful_requests(result) -> int:
    """Successful requests Postgres served in the stats window: warm-up and measured, all endpoints."""
    return sum(_successful_by_endpoint(result).values())


def _window(result) -> dict:
    """Where the measured window sits in the load, and how many warm-up requests it left out."""
    measured = getattr(result, "measured", None) or {}
    warmup = (measured.get("outside_window") or {}).get("warmup", {})
    return {
        "measure_start_offset_s": float(measured.get("warmup_s", 0.0)),
        "warmup_requests": sum(int(c.get("count", 0)) for c in warmup.values()),
        # Wall clock (epoch s): a duet's two sides must share it (fairness.duet_aligned).
        "measure_start": float(measured.get("measure_start", 0.0)),
        "measure_end": float(measured.get("measure_end", 0.0)),
    }


def _settings_hash(settings: dict[str, str]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def variant_spec(name: str) -> variants_mod.VariantSpec:
    """The registry spec of a run label; a scenario-qualified suite label
    (``django[cache=off,scenario=read]``) keeps its full name for raw dir, database and meta."""
    plain, scenario = split_scenario(name)
    spec = variants_mod.get(plain)
    return dataclasses.replace(spec, name=name) if scenario else spec


def _db_name(variant: str) -> str:
    return "cb_" + "".join(c if c.isalnum() else "_" for c in variant.lower())


def run(
    cfg: RunConfig, *, progress: Progress | None = None, hooks: RunHooks | None = None
) -> RunOutcome:
    """Run one benchmark and return where its results are."""
    return Run(cfg, progress=progress, hooks=hooks).execute()
