"""Child processes: started in a process group of their own, stopped with the whole group.

Every long-lived child chatbench starts (a service, Valkey, Locust) goes through here, so each
one can be found, pinned and stopped the same way: SIGTERM to the group, SIGKILL to what is
left after a grace period, the leader reaped. A group is signalled even when its leader has
exited: a crashed master leaves workers holding ports and database connections.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self, TypeVar

import psutil

from chatbench.configuration.paths import SOURCE_ROOT
from chatbench.provisioning import lifeline

STOP_GRACE_S = 8.0


class StopOnExit:
    """Something started that must be stopped: as a context manager, ``stop()`` runs on the
    way out whatever happened (success, failure, Ctrl-C)."""

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


Started = TypeVar("Started", bound=StopOnExit)


def started(thing: Started, *steps: Callable[[], object]) -> Started:
    """``thing`` once ``steps`` (spawn, wait until ready, …) all ran; when one fails, Ctrl-C
    included, ``thing`` is stopped before the failure goes on."""
    try:
        for step in steps:
            step()
    except BaseException:
        thing.stop()
        raise
    return thing


def read_log(path: Path) -> str:
    """A log file's text ("" while it does not exist), undecodable bytes replaced."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


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
    cwd: Path = SOURCE_ROOT,
) -> subprocess.Popen:
    """Start a child in its own session/process group, output to ``log_path``; the group is
    on the lifeline (killed should the harness die first)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1", **owner_env()}
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            pinned_command(argv, cpus),
            cwd=cwd,
            env=full_env,
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lifeline.watch("group", proc.pid)
    return proc


def owner_env() -> dict[str, str]:
    """The variable every child carries: this harness's pid, which the leftover scan of a later
    run reads to tell an orphan of a dead run from a process someone else started."""
    return {lifeline.OWNER_VAR: str(os.getpid())}


def process_tree(pid: int | None) -> list[psutil.Process]:
    """``pid`` and every descendant (empty when it is gone)."""
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def pid_alive(pid: int) -> bool:
    """A live (non-zombie) process ``pid``? A zombie answers ``kill(pid, 0)``, and a
    container's PID 1 may never reap an orphan (a daemonized postmaster), so ask psutil.
    A pid below 1 is no process (postmaster.pid holds a standalone backend's pid negated)."""
    if pid < 1:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def wait_pid_gone(pid: int, timeout_s: float) -> bool:
    """Poll until ``pid`` is gone (or a zombie), with a deadline; whether it went."""
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the group? Zombies count for killpg, and a
    container's PID 1 may never reap orphans, so ask psutil."""
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                return True
        except (psutil.Error, OSError):
            continue
    return False


def terminate_group(proc: subprocess.Popen, *, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the whole process group, SIGKILL whatever is left after grace_s, reap the leader."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        if _wait_group_gone(proc, grace_s):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    lifeline.release("group", proc.pid)


def stop_if_running(proc: subprocess.Popen, *, grace_s: float = STOP_GRACE_S) -> None:
    """``terminate_group`` unless the leader and its whole group are already gone."""
    if proc.poll() is None or group_alive(proc.pid):
        terminate_group(proc, grace_s=grace_s)
    else:
        lifeline.release("group", proc.pid)


def _wait_group_gone(proc: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None and not group_alive(proc.pid):
            return True
        time.sleep(0.05)
    return False
