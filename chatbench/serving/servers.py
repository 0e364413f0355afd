"""Service process lifecycle: start in its own process group, wait for /health, sample, stop.

The service is started through its command line only (see ``variants``), pinned to its CPU set
before it runs any code (``taskset``), and polled for readiness with a deadline. A background
sampler records CPU seconds and RSS of the whole process tree (master + workers) so throughput
can be expressed per CPU-second. Stopping is graceful (SIGTERM to the group) then forceful.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from chatbench.configuration.paths import SOURCE_ROOT
from chatbench.configuration.variants import DEFAULT_DB_MAX_CONNECTIONS, VariantSpec
from chatbench.errors import ServerError, log_tail
from chatbench.provisioning import cpuplan
from chatbench.provisioning.processes import (
    StopOnExit,
    process_tree,
    read_log,
    spawn,
    started,
    terminate_group,
)
from chatbench.serving.sampler import TreeSampler

READY_TIMEOUT_S = 60.0


@dataclass
class RunningServer(StopOnExit):
    """A started service: its process, URL, log and resource sampler."""

    variant: VariantSpec
    proc: subprocess.Popen
    base_url: str
    log_path: Path
    env: dict[str, str]
    sampler: TreeSampler | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return read_log(self.log_path)

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

    def start_sampling(self, interval_s: float = 0.5) -> TreeSampler:
        self.sampler = TreeSampler(self.proc.pid).start(interval_s)
        return self.sampler

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        terminate_group(self.proc)


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
    env = variant.service_env(
        database_url=database_url,
        port=port,
        cpus=len(cpus) if cpus else len(cpuplan.available_cpus()),
        db_max_connections=db_max_connections or DEFAULT_DB_MAX_CONNECTIONS,
        extra=extra_env,
    )
    cwd = Path(variant.source) if variant.source else SOURCE_ROOT
    # CHATBENCH_CACHE_URL in the user's shell names the harness's cache server (--cache-url):
    # a service reads the cache only when the variant's own environment says so.
    proc = spawn(variant.command(), env={"CHATBENCH_CACHE_URL": "", **env}, log_path=log_path,
                 cpus=cpus, cwd=cwd)  # fmt: skip
    server = RunningServer(variant, proc, f"http://127.0.0.1:{port}", log_path, env)
    return started(server, lambda: server.wait_ready(ready_timeout_s))
