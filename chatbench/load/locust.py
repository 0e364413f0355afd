"""Runs Locust and collects what it measured.

``run_load(spec, out_dir)`` starts Locust headless as a subprocess (its own process group,
optionally pinned to CPUs), samples its CPU and memory and how busy the load-generator CPU set
is, waits for it with a deadline, then merges the per-process request files of
``loadtests/recorder.py`` into ``requests.json``. Nothing outlives a call: on an error, a stop
request or Ctrl-C the whole group is terminated.

How well Locust kept up is judged by ``chatbench.load.health`` from what this module samples.

Errors::

    LoadgenError            Locust could not run, or its output is missing (one sentence + log tail)
     └─ LoadgenInterrupted  the caller asked to stop (stop_event) before Locust finished
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chatbench.configuration.paths import LOCUSTFILE
from chatbench.configuration.profiles import MODES, SCENARIOS
from chatbench.configuration.urls import target_problem
from chatbench.load import latency
from chatbench.load.health import CpuSetSampler, LoadgenHealth, LoopLag, own_cpu_percent
from chatbench.provisioning import cpuplan, lifeline
from chatbench.provisioning.ports import free_port
from chatbench.provisioning.processes import (
    group_alive,
    owner_env,
    stop_if_running,
    terminate_group,
)
from chatbench.serving.sampler import TreeSampler
from loadtests.arrivals import ARRIVALS, DEFAULT_ARRIVALS

STOP_TIMEOUT_S = 2  # Locust --stop-timeout: in-flight requests finish, so counts stay exact
SAMPLE_INTERVAL_S = 0.5
RUN_TIME_BACKSTOP_S = 10
STARTUP_GRACE_S = 30.0  # import, fork, workers connecting
SHUTDOWN_GRACE_S = 20.0  # stop timeout, worker reports, file writes
TERMINATE_GRACE_S = 5.0  # SIGTERM -> SIGKILL
REQUESTS_PARTS = "requests.d"


class LoadgenError(Exception):
    """Locust failed to run or produced no usable data."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        self.message = message
        self.log_tail = log_tail
        super().__init__(
            f"{message}\n--- locust.log (tail) ---\n{log_tail}" if log_tail else message
        )


class LoadgenInterrupted(LoadgenError):
    """The run was stopped on request; Locust and its workers are gone."""


@dataclass(frozen=True)
class LoadSpec:
    """What load to generate. Times in seconds; ``rate`` in requests per second (total).

    ``processes`` > 1 runs Locust as a master plus that many forked workers (``--processes``);
    ``expect_workers`` > 0 instead runs a master that waits for external ``run_worker``
    processes (their request files must land in the same requests directory).
    """

    target_url: str
    scenario: str = "chat"
    # A workload file (loadtests/workload.py) to run instead of the scenario's built-in one;
    # ``scenario`` is then only its label.
    workload: str | None = None
    mode: str = "closed"
    users: int = 20
    rate: float | None = None
    # Rate mode: how the users' sends line up (loadtests/arrivals.py): "even" or "poisson".
    arrivals: str = DEFAULT_ARRIVALS
    duration_s: float = 15.0
    warmup_s: float = 5.0
    spawn_rate: float | None = None
    ramp_steps: tuple[int, ...] = ()
    ramp_step_s: float = 10.0
    processes: int = 1
    seed_sessions: int = 0
    seed_messages: int = 0
    cpus: tuple[int, ...] | None = None
    # Run Locust under SCHED_IDLE, so the service's dependencies sharing its CPUs (Postgres,
    # Valkey) run first (``cpuplan.CpuPlan.loadgen_yields`` says when; see cpuplan's docstring).
    yield_cpu: bool = False
    random_seed: int = 1
    expect_workers: int = 0
    # Epoch seconds at which the test's clock starts (warm-up, then the measured window); None:
    # when Locust starts its test. Two Locusts given one value measure one wall-clock window
    # (the same-runner A/B duet, see chatbench.measuring.duet).
    start_at: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.workload is None and self.scenario not in SCENARIOS:
            problems.append(f"scenario {self.scenario!r} is not one of {', '.join(SCENARIOS)}")
        if self.mode not in MODES:
            problems.append(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.users < 1 and self.mode != "ramp":
            problems.append("users must be at least 1")
        if self.mode == "rate" and not (self.rate and self.rate > 0):
            problems.append("rate mode needs a rate > 0 requests/s")
        if self.arrivals not in ARRIVALS:
            problems.append(f"arrivals {self.arrivals!r} is not one of {', '.join(ARRIVALS)}")
        shared = self.expect_workers or self.processes
        if self.mode == "rate" and shared > 1 and self.users % shared:
            problems.append(
                f"rate mode on {shared} Locust processes needs users that divide among them "
                f"(the arrival grid interleaves equal shares), not {self.users}"
            )
        if self.mode == "ramp" and (not self.ramp_steps or min(self.ramp_steps) < 1):
            problems.append("ramp mode needs ramp_steps of positive user counts")
        if self.mode == "ramp" and self.ramp_step_s <= 0:
            problems.append("ramp_step_s must be positive")
        if self.duration_s <= 0 and self.mode != "ramp":
            problems.append("duration_s must be positive")
        if self.warmup_s < 0:
            problems.append("warmup_s cannot be negative")
        if self.spawn_rate is not None and self.spawn_rate <= 0:
            problems.append("spawn_rate must be positive")
        if self.processes < 1:
            problems.append("processes must be at least 1")
        if self.expect_workers and self.processes > 1:
            problems.append("use either processes > 1 or expect_workers, not both")
        if self.workload is None and self.scenario == "read" and self.seed_sessions < 1:
            problems.append("the read scenario needs seed_sessions >= 1")
        if (
            self.workload is None
            and self.scenario == "detail"
            and self.seed_sessions * self.seed_messages < 1
        ):
            problems.append("the detail scenario needs seed_sessions and seed_messages >= 1")
        if self.start_at is not None and not self.start_at > 0:
            problems.append("start_at, when given, must be epoch seconds > 0")
        if self.start_at is not None and self.mode == "ramp":
            problems.append(
                "start_at is not supported in ramp mode (the shape keeps its own clock)"
            )
        if self.cpus is not None and not self.cpus:
            problems.append("cpus, when given, must name at least one CPU")
        if problems:
            raise LoadgenError("invalid load spec: " + "; ".join(problems))

    @property
    def measure_s(self) -> float:
        """Seconds in the measured window (ramp: every step once)."""
        if self.mode == "ramp":
            return len(self.ramp_steps) * self.ramp_step_s
        return self.duration_s

    @property
    def total_s(self) -> float:
        return self.warmup_s + self.measure_s

    @property
    def user_processes(self) -> int:
        """Locust processes that run users (and each write one request file)."""
        return self.expect_workers or self.processes


@dataclass(frozen=True)
class LoadTick:
    """Progress, handed to ``on_tick`` about every SAMPLE_INTERVAL_S."""

    elapsed_s: float
    total_s: float
    cpu_percent: float
    rss_bytes: int


@dataclass(frozen=True)
class LoadResult:
    """What one Locust run produced. ``measured`` is its ``requests.json``, merged and typed.

    ``samples`` are the load generator's resources (dicts with the samples.csv columns t_s,
    wall, cpu_seconds, cpu_percent, rss_bytes, processes, threads, plus
    max_process_cpu_percent); ``cpu_set_samples`` those of the load-generator CPU set (t_s,
    wall, cpu_seconds = busy CPU seconds of the set since the first sample, cpu_percent = busy
    % of the set since the previous sample, cpus). ``health`` is the verdict over the measured
    window (see ``LoadgenHealth``).
    """

    out_dir: Path
    requests_path: Path
    locust_returncode: int
    successful_creates_total: int
    measured: latency.RequestsDocument
    samples: tuple[dict[str, float], ...]
    started_at: float
    wall_s: float
    health: LoadgenHealth
    cpu_set_samples: tuple[dict[str, float], ...] = ()
    locust_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    command: tuple[str, ...] = ()

    @property
    def saturated(self) -> bool:
        """The generator itself was the bottleneck: the figures are not trustworthy."""
        return not self.health.valid

    @property
    def unfinished_creates(self) -> int:
        """POSTs sent whose response was never seen (killed at stop): rows may exceed counts."""
        return self.measured.unfinished_creates


# --- the command ---------------------------------------------------------------------------


def check_target(url: str, *, allow_remote: bool = False) -> None:
    """Refuse anything but a loopback HTTP target unless allow_remote."""
    problem = target_problem(url, allow_remote=allow_remote)
    if problem:
        raise LoadgenError(problem)


def locust_command(spec: LoadSpec, out_dir: Path) -> list[str]:
    """The Locust command line for spec, writing its CSVs and JSON under out_dir."""
    out_dir = Path(out_dir)
    spawn_rate = spec.spawn_rate or (max(spec.ramp_steps) if spec.mode == "ramp" else spec.users)
    cmd = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "--host", spec.target_url,
        "-r", f"{spawn_rate:g}",
        "--csv", str(out_dir / "locust"),
        "--csv-full-history",
        "--json-file", str(out_dir / "locust"),
        "--only-summary",
        "--stop-timeout", str(STOP_TIMEOUT_S),
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    if spec.mode != "ramp":  # the shape decides users and the end
        # The locustfile stops the test when its measured window ends; --run-time (whole
        # seconds, and early by up to ~0.3 s in Locust 2.47) is only a backstop.
        lead = max(0.0, (spec.start_at or 0.0) - time.time())  # waiting for a shared start
        run_time = math.ceil(lead + spec.total_s) + RUN_TIME_BACKSTOP_S
        cmd += ["-u", str(spec.users), "--run-time", f"{run_time}s"]
    if spec.processes > 1:
        # Master and forked workers talk over loopback on a free port, not Locust's fixed 5557:
        # two runs on one machine (or a test next to a run) must not collide.
        port = str(free_port())
        cmd += ["--processes", str(spec.processes)]
        cmd += ["--master-bind-host", "127.0.0.1", "--master-bind-port", port]
        cmd += ["--master-host", "127.0.0.1", "--master-port", port]
    if spec.expect_workers:
        cmd += ["--master", "--expect-workers", str(spec.expect_workers)]
    return cmd


def locust_env(spec: LoadSpec, requests_dir: Path) -> dict[str, str]:
    """The environment for Locust: ours, minus stray LOCUST_* settings, plus the spec."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "CHATBENCH_SCENARIO": spec.scenario,
            "CHATBENCH_WORKLOAD": str(Path(spec.workload).resolve()) if spec.workload else "",
            "CHATBENCH_MODE": spec.mode,
            "CHATBENCH_USERS": str(spec.users),
            "CHATBENCH_RATE": f"{spec.rate or 0:g}",
            "CHATBENCH_ARRIVALS": spec.arrivals,
            "CHATBENCH_USER_PROCESSES": str(spec.user_processes),
            "CHATBENCH_SEED_SESSIONS": str(spec.seed_sessions),
            "CHATBENCH_SEED_MESSAGES": str(spec.seed_messages),
            "CHATBENCH_RANDOM_SEED": str(spec.random_seed),
            "CHATBENCH_WARMUP_S": f"{spec.warmup_s:g}",
            "CHATBENCH_MEASURE_S": f"{spec.measure_s:g}",
            "CHATBENCH_RAMP_STEPS": ",".join(str(s) for s in spec.ramp_steps) or "1",
            "CHATBENCH_RAMP_STEP_S": f"{spec.ramp_step_s:g}",
            "CHATBENCH_REQUESTS_DIR": str(requests_dir),
            "CHATBENCH_START_AT": repr(spec.start_at or 0.0),
        }
    )
    return env


# --- process handling ----------------------------------------------------------------------


def _start(
    cmd: list[str],
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
    cpus: Sequence[int] | None,
    *,
    yield_cpu: bool = False,
) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        prepare = cpuplan.loadgen_preexec(tuple(cpus or ()), yield_cpu=yield_cpu)
        proc = subprocess.Popen(cmd, cwd=cwd, env={**env, **owner_env()},
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=prepare)  # fmt: skip
    lifeline.watch("group", proc.pid)
    return proc


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def loadgen_cpus(spec: LoadSpec) -> tuple[int, ...]:
    """The load-generator CPU set: the CPUs Locust is pinned to, else every CPU it may use."""
    return tuple(sorted(spec.cpus)) if spec.cpus else cpuplan.available_cpus()


def _locust_counts(json_path: Path) -> dict[str, dict[str, int]]:
    try:
        rows = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {
        row["name"]: {"count": int(row["num_requests"]), "failures": int(row["num_failures"])}
        for row in rows
        if isinstance(row, dict) and "name" in row
    }


def _first_exception(csv_path: Path) -> str | None:
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                return f"{row.get('Count', '?')}x {row.get('Message', '').strip()}"
    except OSError:
        return None
    return None


def run_load(
    spec: LoadSpec,
    out_dir: str | os.PathLike[str],
    *,
    allow_remote: bool = False,
    on_tick: Callable[[LoadTick], None] | None = None,
    stop_event: threading.Event | None = None,
    end_window: Callable[[], bool] | None = None,
) -> LoadResult:
    """Run Locust for spec against spec.target_url; write Locust's files and requests.json.

    ``end_window``, asked about twice a second while Locust runs: once it says True, the
    measured window ends there (SIGUSR1 to Locust's processes, loadtests/locustfile.py) and
    the load stops as at its planned end; the window is then shorter than ``spec``'s.

    Blocks for about warmup + measure + a few seconds. Raises LoadgenError (with the tail of
    locust.log) when Locust fails, LoadgenInterrupted when stop_event is set; on either, and on
    KeyboardInterrupt, no Locust process is left running.
    """
    check_target(spec.target_url, allow_remote=allow_remote)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    parts_dir = out / REQUESTS_PARTS
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir()
    log_path = out / "locust.log"
    log_path.unlink(missing_ok=True)
    requests_path = out / "requests.json"
    requests_path.unlink(missing_ok=True)

    cmd = locust_command(spec, out)
    started_at = time.time()
    proc = _start(
        cmd, locust_env(spec, parts_dir), out, log_path, spec.cpus, yield_cpu=spec.yield_cpu
    )
    wait_s = max(0.0, (spec.start_at or started_at) - started_at)  # until a shared start
    deadline = time.monotonic() + wait_s + spec.total_s + STARTUP_GRACE_S + SHUTDOWN_GRACE_S
    sampler = TreeSampler(proc.pid)
    cpu_set = CpuSetSampler(loadgen_cpus(spec))
    ended = False
    try:
        while True:
            row = sampler.sample()
            cpu_set.sample()
            if on_tick is not None:
                on_tick(LoadTick(row["t_s"], spec.total_s, row["cpu_percent"], row["rss_bytes"]))
            try:
                proc.wait(timeout=SAMPLE_INTERVAL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop_event is not None and stop_event.is_set():
                terminate_group(proc, grace_s=TERMINATE_GRACE_S)
                raise LoadgenInterrupted("load generation stopped on request")
            if end_window is not None and not ended and end_window():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGUSR1)
                ended = True
            if time.monotonic() > deadline:
                terminate_group(proc, grace_s=TERMINATE_GRACE_S)
                raise LoadgenError(
                    f"Locust did not finish within {spec.total_s + STARTUP_GRACE_S + SHUTDOWN_GRACE_S:.0f} s",
                    log_tail=_tail(log_path),
                )
    except BaseException:
        stop_if_running(proc, grace_s=TERMINATE_GRACE_S)
        raise
    cpu_set.sample()  # Locust has quit, so the window's end is covered
    # Forked workers are waited for by the master, but make sure of it.
    if group_alive(proc.pid):
        terminate_group(proc, grace_s=TERMINATE_GRACE_S)
    wall_s = time.time() - started_at

    rc = proc.returncode
    if rc != 0:
        raise LoadgenError(f"Locust exited with code {rc}", log_tail=_tail(log_path))
    exception = _first_exception(out / "locust_exceptions.csv")
    if exception:
        raise LoadgenError(
            f"the locustfile raised during the run: {exception}", log_tail=_tail(log_path)
        )
    part_files = sorted(parts_dir.glob("requests-*.json"))
    if len(part_files) != spec.user_processes:
        raise LoadgenError(
            f"expected request data from {spec.user_processes} Locust process(es), "
            f"found {len(part_files)} in {parts_dir}",
            log_tail=_tail(log_path),
        )
    measured = latency.merge_request_files(part_files)
    latency.write_requests(measured, requests_path)
    shutil.rmtree(parts_dir, ignore_errors=True)

    health = LoadgenHealth(
        cpu_set=cpu_set.busy_over(measured.measure_start, measured.measure_end),
        loop_lag=LoopLag.from_requests(measured),
        own_cpu_pct=own_cpu_percent(
            sampler.samples, measured.measure_start, measured.measure_end, spec.user_processes
        ),
    )
    return LoadResult(
        out_dir=out,
        requests_path=requests_path,
        locust_returncode=rc,
        successful_creates_total=measured.successful_creates_total,
        measured=measured,
        samples=tuple(sampler.samples),
        started_at=started_at,
        wall_s=wall_s,
        health=health,
        cpu_set_samples=tuple(cpu_set.rows),
        locust_counts=_locust_counts(out / "locust.json"),
        command=tuple(cmd),
    )


def run_worker(
    master_host: str,
    *,
    master_port: int = 5557,
    processes: int = 1,
    requests_dir: str | os.PathLike[str] | None = None,
    cpus: Sequence[int] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Run Locust worker(s) for a master elsewhere until the master ends the test.

    The master hands over scenario, mode and timing; request files go to requests_dir.
    Returns Locust's exit code.
    """
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
        "--worker", "--master-host", master_host, "--master-port", str(master_port),
    ]  # fmt: skip
    if processes > 1:
        cmd += ["--processes", str(processes)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(owner_env())
    if requests_dir is not None:
        Path(requests_dir).mkdir(parents=True, exist_ok=True)
        env["CHATBENCH_REQUESTS_DIR"] = str(Path(requests_dir).resolve())
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_path, "ab")) if log_path else None
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT if log else None,
            start_new_session=True,
            preexec_fn=cpuplan.loadgen_preexec(tuple(cpus or ()), yield_cpu=False),
        )
        lifeline.watch("group", proc.pid)
        try:
            while True:
                try:
                    return proc.wait(timeout=SAMPLE_INTERVAL_S)
                except subprocess.TimeoutExpired:
                    if stop_event is not None and stop_event.is_set():
                        terminate_group(proc, grace_s=TERMINATE_GRACE_S)
                        return proc.returncode if proc.returncode is not None else -1
        except BaseException:
            terminate_group(proc, grace_s=TERMINATE_GRACE_S)
            raise
