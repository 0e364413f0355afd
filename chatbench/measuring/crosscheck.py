"""Cross-check: does Locust agree with an independent load generator (wrk) on the same service?

A load generator that is itself a bottleneck, or that drives the service differently from real
clients, reports the service as slower (or faster) than it is, and every ratio built on it
inherits the error. So chatbench measures the same service with Locust and with wrk
(``chatbench.measuring.wrk``), in interleaved pairs (Locust then wrk, then wrk then Locust, …),
on the same scenario, connection count, warm-up and duration, with the run's CPU plan: service
on the service CPUs, Postgres and the load generator on the others. Each pair gives one ratio
Locust/wrk; ``chatbench.analysing.agreement`` judges them (the tools **agree** when the 95 %
interval of the ratio lies within ±:data:`AGREEMENT`), and ``chatbench.storing.crosschecks``
keeps the result as the JSON file runs cite.

Also recorded per measurement, as evidence for a disagreement: how the service's established
connections were spread over its worker processes once all were open (with one
listening socket shared by gunicorn's workers, a burst of connections lands on one worker; see
``impl_django/gunicorn_conf.py``), and how busy the service's CPUs were.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from chatbench.configuration import machine
from chatbench.configuration import variants as variants_mod
from chatbench.configuration.profiles import SCENARIOS
from chatbench.errors import ChatbenchError, ToolMissing, UsageError
from chatbench.load import health, locust
from chatbench.measuring.wrk import run_wrk, wrk_script
from chatbench.provisioning import cpuplan, postgres
from chatbench.provisioning.ports import free_port
from chatbench.provisioning.processes import process_tree
from chatbench.provisioning.provision import database_name, provision
from chatbench.provisioning.seed import SeedSpec
from chatbench.serving import servers

AGREEMENT = 0.05  # the interval of Locust/wrk must lie within 1 ± this
MIN_PAIRS = 3  # fewer pairs give no 95 % interval (see stats.paired_ratio)
LAYOUT_POLL_S = 0.25


def connections_per_worker(server: servers.RunningServer) -> list[int]:
    """Established client connections held by each process of the service, sorted."""
    port = int(server.base_url.rsplit(":", 1)[1])
    counts = []
    for proc in process_tree(server.pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            held = sum(
                1
                for c in proc.net_connections("tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
            )
            if held:
                counts.append(held)
    return sorted(counts)


@dataclass(frozen=True)
class Measurement:
    """One tool's measured window on one variant."""

    variant: str
    pair: int
    tool: str  # "locust" | "wrk"
    rps: float
    requests: int
    duration_s: float
    connections_per_worker: list[int]
    service_cpu_busy: float
    started_at: float


@dataclass(frozen=True)
class CrossCheckConfig:
    variants: tuple[str, ...] = ("django", "fastapi")
    scenario: str = "chat"
    users: int = 20
    warmup_s: float = 3.0
    duration_s: float = 10.0
    pairs: int = 5
    database_url: str | None = None
    server_cpus: str | None = None
    loadgen_cpus: str | None = None
    seed_sessions: int = 1000
    seed_messages: int = 20
    # Extra service environment per variant (``--service-env``), e.g. to cross-check a
    # configuration other than the default; runs only cite cross-checks without any.
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # Both tools at normal priority instead of the plan's SCHED_IDLE (cpuplan): measures what
    # yielding the shared CPUs to Postgres changes; runs only cite cross-checks without it.
    normal_priority: bool = False

    def __post_init__(self) -> None:
        for name in self.variants:
            variants_mod.get(name)  # UsageError for an unknown one
        for name in self.service_env:
            if name not in self.variants:
                raise UsageError(
                    f"--service-env names {name!r}, which this cross-check does not run."
                )
        if self.scenario not in SCENARIOS:
            raise UsageError(
                f"Unknown scenario {self.scenario!r}; choose one of {', '.join(SCENARIOS)}."
            )
        if self.pairs < MIN_PAIRS:
            raise UsageError(
                f"A cross-check needs at least {MIN_PAIRS} pairs for a 95 % interval, not {self.pairs}."
            )
        if self.users < 1 or self.duration_s < 1 or self.warmup_s < 0:
            raise UsageError("--users and --duration must be at least 1 and --warmup at least 0.")

    @property
    def planned_s(self) -> float:
        # Each pair: a Locust window and a wrk window, each with its warm-up, plus about 4 s
        # of Locust start-up and stop.
        return len(self.variants) * self.pairs * (2 * (self.warmup_s + self.duration_s) + 4)


def pair_order(pair: int) -> tuple[str, str]:
    """Locust first in even pairs, wrk first in odd ones: drift hits both tools alike."""
    return ("locust", "wrk") if pair % 2 == 0 else ("wrk", "locust")


def _measure_locust(
    cfg: CrossCheckConfig, srv: servers.RunningServer, out: Path, plan: cpuplan.CpuPlan
) -> tuple[int, float]:
    spec = locust.LoadSpec(
        target_url=srv.base_url,
        scenario=cfg.scenario,
        mode="closed",
        users=cfg.users,
        duration_s=cfg.duration_s,
        warmup_s=cfg.warmup_s,
        spawn_rate=float(cfg.users),  # all users within one second, as the profiles do
        seed_sessions=cfg.seed_sessions,
        seed_messages=cfg.seed_messages,
        cpus=plan.loadgen if plan.pinned else None,
        yield_cpu=plan.loadgen_yields,
    )
    result = locust.run_load(spec, out)
    failures = result.measured.failures
    if failures:
        raise ChatbenchError(f"Locust saw {failures} failed requests on {srv.variant.name}.")
    return result.measured.completed, result.measured.duration_s


def _measure_wrk(
    cfg: CrossCheckConfig,
    srv: servers.RunningServer,
    script_dir: Path,
    plan: cpuplan.CpuPlan,
    tag: str,
) -> tuple[int, float]:
    def script(suffix: str) -> Path:
        path = script_dir / f"{tag}-{suffix}.lua"
        path.write_text(
            wrk_script(
                cfg.scenario,
                # One prefix for warm-up and measurement: the measured window continues the
                # warm-up's sessions, as Locust's users do, so history pages are as full.
                prefix=f"wrk-{tag}",
                users=cfg.users,
                seed_sessions=cfg.seed_sessions,
                seed_messages=cfg.seed_messages,
            )
        )
        return path

    cpus = plan.loadgen if plan.pinned else None
    phases = [("warm", cfg.warmup_s)] if cfg.warmup_s >= 1 else []  # wrk runs whole seconds
    for suffix, seconds in [*phases, ("measure", cfg.duration_s)]:
        result = run_wrk(srv.base_url, connections=cfg.users, seconds=seconds,
                         script=script(suffix), cpus=cpus, yield_cpu=plan.loadgen_yields)  # fmt: skip
    bad = {k: v for k, v in result.errors.items() if v}
    if bad:
        raise ChatbenchError(f"wrk saw errors on {srv.variant.name}: {bad}.")
    return result.requests, result.duration_s


def _sampled(
    srv: servers.RunningServer, plan: cpuplan.CpuPlan, work: Callable[[], tuple[int, float]]
) -> tuple[int, float, list[int], float]:
    """Run ``work`` while polling the service's connection layout (the fullest one seen is
    kept: the steady state once every connection is open) and measuring how busy the service
    CPUs were over the whole call."""
    layout: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.wait(LAYOUT_POLL_S):
            seen = connections_per_worker(srv)
            if sum(seen) >= sum(layout):
                layout[:] = seen

    poller = threading.Thread(target=poll, name="crosscheck-layout", daemon=True)
    service_cpus = health.CpuSetSampler(plan.server)
    service_cpus.sample()
    poller.start()
    try:
        requests, duration = work()
    finally:
        done.set()
        poller.join(timeout=5)
    service_cpus.sample()
    busy = service_cpus.busy_over(service_cpus.walls[0], service_cpus.walls[-1])
    return requests, duration, list(layout), busy.mean_pct / 100


def _measure_one(
    cfg: CrossCheckConfig,
    srv: servers.RunningServer,
    plan: cpuplan.CpuPlan,
    work: Path,
    *,
    pair: int,
    tool: str,
) -> Measurement:
    tag = f"{srv.variant.name}-{pair}-{tool}"
    if tool == "locust":
        fn = functools.partial(_measure_locust, cfg, srv, work / tag, plan)
    else:
        fn = functools.partial(_measure_wrk, cfg, srv, work, plan, tag)
    t0 = time.time()
    requests, duration, layout, busy = _sampled(srv, plan, fn)
    srv.check_alive()
    return Measurement(
        srv.variant.name, pair, tool, round(requests / duration, 2), requests,
        round(duration, 3), layout, round(busy, 4), t0,
    )  # fmt: skip


@dataclass(frozen=True)
class CrossCheckRun:
    """What one cross-check measured: every window of both tools, and the machine it ran on."""

    config: CrossCheckConfig
    measurements: list[Measurement]
    meta: dict[str, Any] = field(default_factory=dict)


def run(cfg: CrossCheckConfig, *, announce: Callable[[str], None] = print) -> CrossCheckRun:
    """Measure every variant with both tools in interleaved pairs; nothing is left running."""
    if shutil.which("wrk") is None:
        raise ToolMissing("wrk is not installed; run `make tools` (Debian: apt-get install wrk).")
    plan = cpuplan.make_plan(cfg.server_cpus, cfg.loadgen_cpus)
    if cfg.normal_priority:
        plan = dataclasses.replace(plan, yield_loadgen=False)
    started = dt.datetime.now(dt.UTC)
    measurements: list[Measurement] = []
    announce(f"cross-check: {plan.note}; about {cfg.planned_s / 60:.1f} min")
    seed = SeedSpec(cfg.seed_sessions, cfg.seed_messages)
    with (
        tempfile.TemporaryDirectory(prefix="chatbench-crosscheck-") as tmp,
        provision(
            seed,
            database_url=cfg.database_url,
            postgres_cpus=plan.loadgen if plan.pinned else None,
        ) as ready,
    ):
        work = Path(tmp)
        for variant in cfg.variants:
            spec = variants_mod.get(variant)
            name = database_name(variant, "xc")
            db_url = ready.clone(name)
            try:
                with servers.start_server(
                    spec,
                    database_url=db_url,
                    port=free_port(),
                    log_path=work / f"{spec.name}.log",
                    cpus=plan.server if plan.pinned else None,
                    extra_env=cfg.service_env.get(variant),
                ) as srv:
                    for pair in range(cfg.pairs):
                        for tool in pair_order(pair):
                            m = _measure_one(cfg, srv, plan, work, pair=pair, tool=tool)
                            measurements.append(m)
                            announce(
                                f"{variant} pair {pair + 1}/{cfg.pairs} {tool:6s} {m.rps:8.1f} req/s"
                                f"  connections per worker {m.connections_per_worker}"
                                f"  service CPU {m.service_cpu_busy:.0%}"
                            )
            finally:
                with contextlib.suppress(ChatbenchError):
                    postgres.drop_database(ready.server_url, name)
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": machine.git_info(),
        "machine": machine.machine_info(),
        "machine_class": machine.machine_class(),
        "cpu_plan": plan.as_dict(),
        "wrk": _wrk_version(),
        "versions": machine.key_versions(),
    }
    return CrossCheckRun(cfg, measurements, meta)


def _wrk_version() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5, check=False)
        return (done.stdout or done.stderr).splitlines()[0].strip()
    return "unknown"
