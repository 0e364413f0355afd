"""One variant's window: its clone, its service, its load, what it leaves behind.

``clone`` makes the variant's database and reads what it holds (the run checks it against the
template before anything starts); ``launch`` starts the service on the service CPUs with its
pause hook on, puts it through the contract smoke check and, the first time, reads the facts
the fairness rules need (process tree, probes, SQL per endpoint); ``side_for`` makes a started
service ready for one window (rows counted, SQL statistics reset, cache flushed); ``load`` runs
Locust with the service's, the connections' and Postgres's samplers around it; ``read_back``
reads what must be read while the service still runs, the window's pauses included. A
long-lived service (``measuring.live``) goes through ``launch`` once and ``side_for`` per
window; a duet's side (``measuring.duet``) through ``start`` (both) per repetition. Nothing here
writes the run record: the result is an ``Observation``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbench.configuration.settings import RunConfig, split_scenario
from chatbench.configuration.variants import VariantSpec
from chatbench.errors import LoadgenError, ServerError
from chatbench.load import locust
from chatbench.load.health import CpuSetBusy
from chatbench.measuring import sqlwork
from chatbench.measuring.watch import Progress, RunHooks
from chatbench.provisioning import cpuplan, postgres
from chatbench.provisioning.cache import ExternalCache, ValkeyServer
from chatbench.provisioning.cpuplan import CpuPlan
from chatbench.provisioning.ports import free_port
from chatbench.provisioning.processes import process_tree
from chatbench.provisioning.provision import database_name
from chatbench.serving import evidence, pauses, servers, verify
from chatbench.serving.sampler import reaped_tree_cpu_seconds


class Aborted(Exception):
    """One side of a duet stopped early because the other side failed (never reported alone)."""


@dataclass(frozen=True)
class Stage:
    """What every repetition of a local run shares."""

    cfg: RunConfig
    plan: CpuPlan
    run_dir: Path
    server_url: str  # the Postgres server (for pg_stat_activity), not a variant's database
    postmaster_pid: int | None
    clone_database: Callable[[str], str]  # name -> URL of a fresh clone of the template
    cache: ValkeyServer | ExternalCache | None
    stop: threading.Event
    progress: Progress
    hooks: RunHooks

    def tag(self, variant: str, rep: int) -> str:
        if rep > self.cfg.repeat:  # an SLO search step: its count follows the verdicts
            return f"{variant} (step {rep})"
        return f"{variant} (repetition {rep}/{self.cfg.repeat})"

    def rep_dir(self, variant: str, rep: int) -> Path:
        path = self.run_dir / "raw" / variant / f"rep-{rep}"
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass(frozen=True)
class Clone:
    """A variant's fresh database and what it holds, read before its service starts."""

    variant: str
    repetition: int
    database: str
    url: str
    state: postgres.DataState
    settings_hash: str


@dataclass(frozen=True)
class ServiceFacts:
    """Read the first time a variant runs: how it was started and how it answers."""

    env: dict[str, str]
    interpreter: str
    processes: int
    affinity: list[int]
    checks: list[str]  # the contract smoke check's names
    probe: dict[str, Any]  # evidence.probe_service
    sql_profile: dict[str, dict[str, Any]]  # sqlwork.profile_endpoints


@dataclass(frozen=True)
class Observation:
    """Everything one variant × repetition measured, for the run record to keep."""

    variant: str
    repetition: int
    rep_dir: Path
    result: locust.LoadResult
    data_checksum: str | None = None
    rows_before: int | None = None
    rows_after: int | None = None
    statements: tuple[sqlwork.Statement, ...] | None = None
    peak_connections: int | None = None
    connection_samples: int | None = None
    server_samples: tuple[dict[str, Any], ...] = ()
    affinity: dict[str, Any] | None = None  # CPU masks read under load
    cache_stats: dict[str, Any] | None = None
    facts: ServiceFacts | None = None
    access_log_lines: int = 0  # read from service.log once the service stopped
    # A duet's shared reading of the load-generator CPU set (both sides: one set, one window),
    # and both sides' generators' own CPU over it.
    cpu_set: CpuSetBusy | None = None
    own_cpu_pct: float | None = None
    # The embedded Postgres's CPU (its whole tree, exited backends included), sampled with the
    # load: rows with ``wall`` and cumulative ``cpu_seconds`` (empty: not observable).
    database_samples: tuple[dict[str, float], ...] = ()
    # The garbage-collection pauses the service recorded in the measured window (None: the
    # service records none, or an external target).
    pauses: pauses.WindowPauses | None = None


@dataclass
class Side:
    """One variant's repetition in progress: what ``start`` made and ``load`` needs."""

    spec: VariantSpec
    repetition: int
    clone: Clone
    server: servers.RunningServer
    rows_before: int
    load_spec: locust.LoadSpec
    facts: ServiceFacts | None
    rep_dir: Path
    tag: str
    affinity: dict[str, Any] | None = None
    loaded: dict[str, Any] = field(default_factory=dict)
    gc_dir: Path | None = None  # where the service's pause hook writes (``serving.pauses``)


def load_spec(
    cfg: RunConfig, target_url: str, plan: CpuPlan, scenario: str | None = None
) -> locust.LoadSpec:
    """The load of one repetition of ``cfg`` against ``target_url`` (a suite label's
    ``scenario`` overrides the run's)."""
    return locust.LoadSpec(
        target_url=target_url,
        scenario=scenario or cfg.scenario,
        workload=cfg.workload,
        mode=cfg.mode,
        users=cfg.users,
        rate=cfg.rate,
        arrivals=cfg.arrivals,
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


def clone(stage: Stage, spec: VariantSpec, rep: int) -> Clone:
    """The variant's database, cloned from the template, and what it holds."""
    stage.progress.phase(f"{stage.tag(spec.name, rep)}: cloning the template database")
    name = database_name(spec.name)
    url = stage.clone_database(name)
    if stage.hooks.after_clone:
        stage.hooks.after_clone(spec.name, rep, url)
    return Clone(
        spec.name,
        rep,
        name,
        url,
        postgres.data_state(url),
        postgres.settings_hash(postgres.settings(url)),
    )


def _service_env(stage: Stage, spec: VariantSpec, gc_dir: Path | None) -> dict[str, str]:
    env = dict(stage.cfg.service_env.get(spec.name, {}))
    if spec.axes.get("cache") == "valkey" and stage.cache is not None:
        env["CHATBENCH_CACHE_URL"] = stage.cache.url
    if gc_dir is not None:  # the service's own pause hook, switched on (serving.pauses)
        gc_dir.mkdir(parents=True, exist_ok=True)
        env.setdefault(pauses.LOG_ENV, str(gc_dir))
    return env


def launch(
    stage: Stage,
    stack: contextlib.ExitStack,
    spec: VariantSpec,
    made: Clone,
    *,
    log_path: Path,
    gc_dir: Path | None,
    tag: str,
    first: bool = True,
) -> tuple[servers.RunningServer, ServiceFacts | None]:
    """Start the service on ``made``'s database (stopped by ``stack``), smoke-check it and,
    when ``first``, read its facts (process tree, probes, SQL per endpoint)."""
    stage.progress.phase(f"{tag}: starting the service")
    server = servers.start_server(
        spec,
        database_url=made.url,
        port=free_port(),
        log_path=log_path,
        cpus=stage.plan.server if stage.plan.pinned else None,
        extra_env=_service_env(stage, spec, gc_dir),
        db_max_connections=stage.cfg.db_max_connections,
    )
    stack.callback(server.stop)
    tree = process_tree(server.pid)
    mask = sorted({c for p in tree for c in (cpuplan.affinity(p.pid) or ())})
    # The bundled contract's smoke check and SQL profile know the ChatMessage API; a run of
    # other services checks their own documents once, before measuring (``RunConfig.contract``).
    bundled = stage.cfg.contract == "chat"
    checks: list[verify.Check] = []
    if bundled:
        stage.progress.phase(f"{tag}: contract smoke check")
        checks = verify.require(server.base_url, spec.name)
    if not first:
        return server, None
    probe = evidence.probe_service(server.base_url)
    if bundled:
        stage.progress.phase(f"{tag}: counting SQL per endpoint (pg_stat_statements)")
    return server, ServiceFacts(
        env=dict(server.env),
        interpreter=spec.command()[0],
        processes=len(tree),
        affinity=mask,
        checks=[c.name for c in checks],
        probe=probe,
        sql_profile=sqlwork.profile_endpoints(server.base_url, made.url) if bundled else {},
    )


def side_for(
    stage: Stage,
    spec: VariantSpec,
    made: Clone,
    server: servers.RunningServer,
    facts: ServiceFacts | None,
    rep: int,
    *,
    rep_dir: Path | None = None,
    tag: str | None = None,
    gc_dir: Path | None = None,
) -> Side:
    """A started service made ready for one window: its rows counted, its SQL statistics
    reset, a cache it uses emptied (every window starts cold: no variant inherits another's
    cached pages), the window's load."""
    if spec.axes.get("cache") == "valkey" and stage.cache is not None:
        stage.cache.flush()
    rows_before = postgres.row_count(made.url)
    sqlwork.reset(made.url)
    spec_load = load_spec(stage.cfg, server.base_url, stage.plan, split_scenario(spec.name)[1])
    return Side(spec, rep, made, server, rows_before, spec_load, facts,
                rep_dir or stage.rep_dir(spec.name, rep), tag or stage.tag(spec.name, rep),
                gc_dir=gc_dir)  # fmt: skip


def start(
    stage: Stage,
    stack: contextlib.ExitStack,
    spec: VariantSpec,
    made: Clone,
    *,
    first: bool,
    rep_dir: Path | None = None,
    tag: str | None = None,
) -> Side:
    """A service started for one window alone (a duet's side, a profiled repetition): started
    (stopped by ``stack``), smoke-checked, its facts read when ``first``, ready to load.
    ``rep_dir`` and ``tag`` replace the repetition's own (a profiled repetition keeps its files
    apart)."""
    rep = made.repetition
    tag = tag or stage.tag(spec.name, rep)
    rep_dir = rep_dir or stage.rep_dir(spec.name, rep)
    gc_dir = rep_dir / "gc"
    server, facts = launch(stage, stack, spec, made, log_path=rep_dir / "service.log",
                           gc_dir=gc_dir, tag=tag, first=first)  # fmt: skip
    return side_for(stage, spec, made, server, facts, rep, rep_dir=rep_dir, tag=tag,
                    gc_dir=gc_dir)  # fmt: skip


class AnyEvent:
    """Looks like a threading.Event that is set when any of its events is."""

    def __init__(self, *events: threading.Event) -> None:
        self._events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


def run_load(
    spec: locust.LoadSpec,
    rep_dir: Path,
    on_tick: Callable[[locust.LoadTick], None],
    abort: threading.Event | AnyEvent,
    stop: threading.Event,
    end_window: Callable[[], bool] | None = None,
) -> locust.LoadResult | None:
    """Run the load; None when ``abort`` (the service died) ended it early.

    Locust's own errors become a chatbench LoadgenError (one sentence + log tail), so the CLI
    prints them instead of a traceback.
    """
    try:
        return locust.run_load(spec, rep_dir, on_tick=on_tick, stop_event=AnyEvent(abort, stop),
                               end_window=end_window)  # fmt: skip
    except locust.LoadgenInterrupted:
        if stop.is_set():
            raise KeyboardInterrupt from None
        return None
    except locust.LoadgenError as exc:
        raise LoadgenError(f"Locust failed: {exc.message}.", detail=exc.log_tail or None) from None


def load(
    stage: Stage,
    side: Side,
    *,
    advance: bool,
    announce: bool,
    also_abort: threading.Event | None = None,
    on_elapsed: Callable[[float], None] | None = None,
    end_window: Callable[[], bool] | None = None,
) -> locust.LoadResult:
    """The load on one side, with its connection and resource samplers around it.

    ``advance``: this side moves the progress bar (one side of a duet only, or it would count
    the same seconds twice); ``announce``: it names its phase (a duet names both);
    ``on_elapsed``: called with Locust's elapsed seconds on every tick (it must not block);
    ``end_window``: ends the measured window early when it says so (``locust.run_load``)."""
    cfg, spec, server, rep = stage.cfg, side.spec, side.server, side.repetition
    conns = sqlwork.ConnectionSampler(stage.server_url, side.clone.database).start()
    sampler = server.start_sampling()
    if announce:
        stage.progress.phase(
            f"{side.tag}: warm-up {cfg.warmup_s:g} s, then measuring {cfg.duration_s:g} s"
        )
    last = [time.monotonic()]
    server_died = threading.Event()
    database_samples: list[dict[str, float]] = []

    def sample_database() -> None:
        if stage.postmaster_pid is not None:
            used = reaped_tree_cpu_seconds(stage.postmaster_pid)
            if used is not None:
                database_samples.append({"wall": time.time(), "cpu_seconds": used})

    sample_database()

    def on_tick(tick: locust.LoadTick) -> None:
        sample_database()
        now = time.monotonic()
        if advance:
            stage.progress.advance(now - last[0])
        last[0] = now
        if stage.hooks.during_load:
            stage.hooks.during_load(spec.name, rep, server.pid, tick.elapsed_s)
        if on_elapsed is not None:
            on_elapsed(tick.elapsed_s)
        if side.affinity is None:
            side.affinity = read_affinity(server.pid, stage.postmaster_pid)
        if not server.alive():
            server_died.set()

    abort = AnyEvent(server_died, also_abort) if also_abort else server_died
    try:
        result = run_load(side.load_spec, side.rep_dir, on_tick, abort, stage.stop, end_window)
    finally:
        sample_database()
        side.loaded["server_samples"] = tuple(sampler.stop())
        side.loaded["peak_connections"] = conns.stop()
        side.loaded["connection_samples"] = conns.samples
        side.loaded["database_samples"] = tuple(database_samples)
    server.check_alive()  # a service that died mid-run fails the run, clearly
    if stage.stop.is_set():
        raise KeyboardInterrupt
    if result is None and also_abort is not None and also_abort.is_set():
        raise Aborted(f"{spec.name}: stopped because the other side failed")
    if result is None:  # the load stopped because the service died
        raise ServerError(f"The {spec.name} service stopped answering during the load.")
    return result


def read_affinity(server_pid: int, postmaster_pid: int | None) -> dict[str, Any] | None:
    """CPU masks of the live service tree, Locust and Postgres, read once under load (None:
    Locust has not started yet; try again on the next tick)."""
    loadgen_mask = evidence.locust_affinity()
    if loadgen_mask is None:
        return None
    return {
        "service": evidence.tree_affinity(server_pid),
        "loadgen": loadgen_mask,
        "postgres": evidence.tree_affinity(postmaster_pid),
        "loadgen_policy": evidence.locust_policies(),
    }


def read_back(
    stage: Stage,
    side: Side,
    result: locust.LoadResult,
    *,
    cpu_set: CpuSetBusy | None = None,
    own_cpu_pct: float | None = None,
) -> Observation:
    """What must be read while the service still runs (its SQL, cache and row counts), with
    the load's result: the repetition's ``Observation``."""
    spec, rep = side.spec, side.repetition
    statements = tuple(sqlwork.read(side.clone.url))
    cache_stats = None
    if spec.axes.get("cache") == "valkey" and stage.cache is not None:
        cache_stats = stage.cache.stats()
    if stage.hooks.after_load:
        stage.hooks.after_load(spec.name, rep, side.clone.url)
    window_pauses = None
    if side.gc_dir is not None:
        log = pauses.read_pause_log(side.gc_dir)
        if log.pids:
            window_pauses = pauses.summarise(
                log, result.measured.measure_start, result.measured.measure_end
            )
    return Observation(
        variant=spec.name,
        repetition=rep,
        rep_dir=side.rep_dir,
        result=result,
        data_checksum=side.clone.state.checksum,
        rows_before=side.rows_before,
        rows_after=postgres.row_count(side.clone.url),
        statements=statements,
        peak_connections=side.loaded["peak_connections"],
        connection_samples=side.loaded["connection_samples"],
        server_samples=side.loaded["server_samples"],
        affinity=side.affinity,
        cache_stats=cache_stats,
        facts=side.facts,
        cpu_set=cpu_set,
        own_cpu_pct=own_cpu_pct,
        database_samples=side.loaded.get("database_samples", ()),
        pauses=window_pauses,
    )


def with_access_log(observed: Observation) -> Observation:
    """``observed`` with the access-log lines its stopped service wrote (a fairness rule)."""
    lines = access_log_lines(observed.rep_dir / "service.log")
    return dataclasses.replace(observed, access_log_lines=lines)


def access_log_lines(log_path: Path) -> int:
    """Access-log lines a stopped service wrote to its log (a fairness rule's evidence)."""
    return evidence.access_log_lines(log_path)
