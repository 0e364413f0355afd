"""Service process lifecycle: start in its own process group, wait for /health, sample, stop.

The service is started through its command line only (see ``variants``), pinned to its CPU set
before it runs any code (``taskset``), and polled for readiness with a deadline. A background
sampler records CPU seconds and RSS of the whole process tree (master + workers) so throughput
can be expressed per CPU-second. Stopping is graceful (SIGTERM to the group) then forceful.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from chatbench.errors import ServerError, log_tail
from chatbench.variants import VariantSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 8.0


def pinned_command(argv: list[str], cpus: tuple[int, ...] | None) -> list[str]:
    """Prefix ``taskset`` so the process (and every worker it forks) starts on ``cpus``."""
    if not cpus:
        return argv
    taskset = shutil.which("taskset")
    if taskset is None:
        return argv
    return [taskset, "-c", ",".join(map(str, cpus)), *argv]


def spawn(
    argv: list[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    cpus: tuple[int, ...] | None = None,
    cwd: Path = REPO_ROOT,
) -> subprocess.Popen:
    """Start a child in its own session/process group, output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        return subprocess.Popen(
            pinned_command(argv, cpus),
            cwd=cwd,
            env=full_env,
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the group? Zombies count for killpg, and a
    container's PID 1 may never reap orphans, so ask psutil."""
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                return True
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return False


def terminate_group(proc: subprocess.Popen, *, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the whole process group, SIGKILL whatever is left after grace_s, reap the leader.

    The group is signalled even when the leader has already exited: a gunicorn/uvicorn master
    that crashed leaves its workers in the group (holding the port and database connections),
    and those must go too.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        if _wait_group_gone(proc, grace_s):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)


def _wait_group_gone(proc: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None and not group_alive(proc.pid):
            return True
        time.sleep(0.05)
    return False


@dataclass
class ResourceSampler:
    """Samples CPU seconds, CPU % and RSS of a process tree every ``interval_s`` in a thread."""

    pid: int
    interval_s: float = 0.5
    samples: list[dict] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0
    # CPU time of processes that exited (e.g. recycled workers) so totals never go backwards.
    _dead_cpu: float = 0.0
    _last_cpu: dict[int, float] = field(default_factory=dict)

    def start(self) -> ResourceSampler:
        self._t0 = time.monotonic()
        self.sample()
        self._thread = threading.Thread(target=self._loop, name=f"sampler-{self.pid}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[dict]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.samples

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> dict | None:
        procs = process_tree(self.pid)
        if not procs:
            return None
        now_cpu: dict[int, float] = {}
        rss = threads = 0
        for p in procs:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    now_cpu[p.pid] = t.user + t.system
                    rss += p.memory_info().rss
                    threads += p.num_threads()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        for pid, cpu in self._last_cpu.items():
            if pid not in now_cpu:
                self._dead_cpu += cpu
        self._last_cpu = now_cpu
        total = self._dead_cpu + sum(now_cpu.values())
        t = time.monotonic() - self._t0
        prev = self.samples[-1] if self.samples else None
        pct = 0.0
        if prev is not None and t > prev["t_s"]:
            pct = 100.0 * (total - prev["cpu_seconds"]) / (t - prev["t_s"])
        row = {
            "t_s": round(t, 3),
            "wall": time.time(),
            "cpu_seconds": round(total, 4),
            "cpu_percent": round(pct, 1),
            "rss_bytes": rss,
            "processes": len(now_cpu),
            "threads": threads,
        }
        self.samples.append(row)
        return row


@dataclass
class RunningServer:
    """A started service: its process, URL, log and resource sampler."""

    variant: VariantSpec
    proc: subprocess.Popen
    base_url: str
    log_path: Path
    env: dict[str, str]
    sampler: ResourceSampler | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def check_alive(self) -> None:
        if not self.alive():
            raise ServerError(
                f"The {self.variant.name} service exited unexpectedly (exit code {self.proc.returncode}).",
                detail=log_tail(self.log_text()),
            )

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Poll the health URL until 200, then until every worker listens, failing fast if the
        process dies. Returns seconds taken.

        Health answers as soon as ONE worker is up. Load started then would meet fewer
        listeners than the service has workers: with per-worker sockets (gunicorn's
        ``reuse_port``) the kernel would spread its connections over the workers that happen
        to be up, so the first repetition would measure another server than the later ones.
        """
        start = time.monotonic()
        deadline = start + timeout_s
        url = self.base_url + self.variant.health_path
        last = "no answer"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    resp = client.get(url)
                    if resp.status_code == 200:
                        self._wait_listening(deadline)
                        return time.monotonic() - start
                    last = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.1)
        raise ServerError(
            f"The {self.variant.name} service did not become healthy at {url} within "
            f"{timeout_s:.0f} s (last: {last}).",
            detail=log_tail(self.log_text()),
        )

    def listening_workers(self) -> int:
        """Processes of the service's tree that hold a listening socket on its port."""
        port = int(self.base_url.rsplit(":", 1)[1])
        holding = 0
        for proc in process_tree(self.proc.pid):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if any(
                    c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                    for c in proc.net_connections("tcp")
                ):
                    holding += 1
        return holding

    def _wait_listening(self, deadline: float) -> None:
        """Until at least ``CHATBENCH_WORKERS`` processes listen on the port (a shared socket
        is held by master and workers alike, so it passes as soon as they are forked)."""
        expected = int(self.env.get("CHATBENCH_WORKERS", "1") or 1)
        while (held := self.listening_workers()) < expected:
            self.check_alive()
            if time.monotonic() > deadline:
                raise ServerError(
                    f"The {self.variant.name} service answered /health, but only {held} of its "
                    f"{expected} workers listen on its port."
                )
            time.sleep(0.05)

    def start_sampling(self, interval_s: float = 0.5) -> ResourceSampler:
        self.sampler = ResourceSampler(self.proc.pid, interval_s).start()
        return self.sampler

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        terminate_group(self.proc)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    variant: VariantSpec,
    *,
    database_url: str,
    port: int,
    log_path: Path,
    cpus: tuple[int, ...] | None = None,
    extra_env: Mapping[str, str] | None = None,
    db_max_connections: int | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> RunningServer:
    """Start ``variant`` on 127.0.0.1:``port`` and wait until /health answers 200."""
    from chatbench.variants import DEFAULT_DB_MAX_CONNECTIONS

    env = variant.service_env(
        database_url=database_url,
        port=port,
        cpus=len(cpus) if cpus else len(os.sched_getaffinity(0)),
        db_max_connections=db_max_connections or DEFAULT_DB_MAX_CONNECTIONS,
        extra=extra_env,
    )
    cwd = Path(variant.source) if variant.source else REPO_ROOT
    proc = spawn(variant.command(), env=env, log_path=log_path, cpus=cpus, cwd=cwd)
    server = RunningServer(variant, proc, f"http://127.0.0.1:{port}", log_path, env)
    try:
        server.wait_ready(ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    return server
