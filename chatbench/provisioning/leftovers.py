"""Before a run: what earlier runs left behind, and who else is busy on the CPUs we planned.

The lifeline (``lifeline.py``) cleans up after a killed harness, but a run from an older
version, a killed watchdog or a machine that lost power leaves clusters, services and scratch
directories behind, and any busy process on the planned CPUs spoils the figures. A run starts
by looking: :func:`survey` finds

- scratch directories (``$TMPDIR/chatbench-*``), each with its owner if it names one (the
  ``chatbench-owner`` file :func:`claim` writes: the harness's pid and start time), and the
  live postmaster of a cluster directory;
- processes carrying a harness's ``CHATBENCH_OWNER_PID`` whose harness is gone (orphans);
- processes other than ours using more than ``BUSY_SHARE`` of a CPU we planned to use.

:func:`clean` then removes only what is provably ours and dead: orphans of a dead harness
(their group killed), clusters and directories whose owner file names a dead harness. A
directory without an owner file, or a live owner, is reported and left alone: another run may
be using it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from chatbench.provisioning.lifeline import OWNER_VAR
from chatbench.provisioning.processes import group_alive, wait_pid_gone

PREFIX = "chatbench-"
OWNER_FILE = "chatbench-owner"
BUSY_SHARE = 0.2  # a fifth of one CPU, averaged over the sample
SAMPLE_S = 0.3
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class Owner:
    """The harness that made something: its pid and start time (a reused pid is not it)."""

    pid: int
    started: float

    @property
    def alive(self) -> bool:
        try:
            return abs(psutil.Process(self.pid).create_time() - self.started) < 1.0
        except psutil.Error:
            return False


@dataclass(frozen=True)
class Leftover:
    """One thing an earlier run left: a scratch directory or an orphaned process."""

    kind: str  # "directory", "cluster" (a directory with a postmaster), "process"
    what: str  # the path, or "pid: command line"
    owner_pid: int | None
    owner_alive: bool | None  # None: no owner recorded
    live: bool  # a process (or a cluster's postmaster) still running
    pid: int | None = None

    @property
    def ours_and_dead(self) -> bool:
        """Provably ours (an owner is recorded) and that owner is gone."""
        return self.owner_pid is not None and self.owner_alive is False


@dataclass(frozen=True)
class BusyProcess:
    pid: int
    name: str
    cpu_percent: float  # of one CPU, over the sample
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class Survey:
    leftovers: tuple[Leftover, ...]
    busy: tuple[BusyProcess, ...]
    cpus: tuple[int, ...]


def me() -> Owner:
    return Owner(os.getpid(), psutil.Process().create_time())


def claim(directory: Path) -> None:
    """Mark ``directory`` as this harness's, so a later run can tell when it was left behind."""
    owner = me()
    (directory / OWNER_FILE).write_text(f"{owner.pid} {owner.started!r}\n")


def owner_of(directory: Path) -> Owner | None:
    try:
        pid, started = (directory / OWNER_FILE).read_text().split()
        return Owner(int(pid), float(started))
    except (OSError, ValueError):
        return None


def survey(cpus: Iterable[int], *, tmpdir: Path | None = None) -> Survey:
    """What is left and who is busy on ``cpus``; nothing is changed."""
    planned = tuple(sorted(set(cpus)))
    found = [*_directories(Path(tmpdir or tempfile.gettempdir())), *_orphans()]
    return Survey(tuple(found), tuple(_busy(planned)), planned)


def clean(found: Survey) -> list[Leftover]:
    """Remove what is provably ours and dead; returns what was removed."""
    done = []
    for item in found.leftovers:
        if not item.ours_and_dead:
            continue
        if item.kind == "process" and item.pid is not None:
            _kill_group(item.pid)
        else:
            if item.pid is not None:
                _stop_postmaster(item.pid)
            shutil.rmtree(item.what, ignore_errors=True)
        done.append(item)
    return done


def describe(item: Leftover) -> str:
    """One line for the report and the terminal."""
    if item.owner_pid is None:
        whose = "no owner recorded"
    else:
        whose = f"owner pid {item.owner_pid} {'running' if item.owner_alive else 'gone'}"
    state = " (running)" if item.live else ""
    return f"{item.kind} {item.what}{state}: {whose}"


# -- internals --------------------------------------------------------------------------------


def _directories(tmpdir: Path) -> list[Leftover]:
    out = []
    try:
        entries = sorted(tmpdir.glob(PREFIX + "*"))
    except OSError:
        return []
    for path in entries:
        if not path.is_dir():
            continue
        owner = owner_of(path)
        postmaster = _postmaster(path / "data")
        out.append(
            Leftover(
                kind="cluster" if postmaster is not None else "directory",
                what=str(path),
                owner_pid=owner.pid if owner else None,
                owner_alive=owner.alive if owner else None,
                live=postmaster is not None,
                pid=postmaster,
            )
        )
    return out


def _postmaster(data_dir: Path) -> int | None:
    """The live postmaster of ``data_dir`` (None when there is none)."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        proc = psutil.Process(pid)
        # The pid may be reused: only the postmaster names its data directory.
        if proc.status() != psutil.STATUS_ZOMBIE and str(data_dir) in " ".join(proc.cmdline()):
            return pid
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return None


def _orphans() -> list[Leftover]:
    """Group leaders carrying a harness's pid whose harness is gone (one line per group)."""
    mine = os.getpid()
    out = []
    for proc in psutil.process_iter(["pid", "cmdline", "status", "create_time"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == mine:
                continue
            owner = proc.environ().get(OWNER_VAR)
            if owner is None or os.getpgid(proc.pid) != proc.pid:
                continue
        except (psutil.Error, OSError):
            continue
        owner_pid = int(owner) if owner.isdigit() else None
        if owner_pid is None or owner_pid == mine:
            continue
        alive = _older_and_alive(owner_pid, proc.info["create_time"])
        if alive:
            continue
        cmd = " ".join(proc.info["cmdline"] or [])[:160]
        out.append(Leftover("process", f"{proc.pid}: {cmd}", owner_pid, False, True, proc.pid))
    return out


def _older_and_alive(pid: int, child_started: float) -> bool:
    """Whether ``pid`` runs and started before the child (else the pid was reused)."""
    try:
        return psutil.Process(pid).create_time() <= child_started + 1.0
    except psutil.Error:
        return False


def _busy(cpus: tuple[int, ...]) -> list[BusyProcess]:
    if not cpus:
        return []
    mine = {os.getpid(), *(p.pid for p in psutil.Process().children(recursive=True))}
    before: dict[int, tuple[psutil.Process, float]] = {}
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid not in mine:
                t = proc.cpu_times()
                before[proc.pid] = (proc, t.user + t.system)
    start = time.monotonic()
    time.sleep(SAMPLE_S)  # a sampling window, not a synchronisation
    elapsed = time.monotonic() - start
    out = []
    planned = set(cpus)
    for pid, (proc, used_before) in before.items():
        try:
            t = proc.cpu_times()
            share = (t.user + t.system - used_before) / elapsed
            if share < BUSY_SHARE:
                continue
            allowed = tuple(proc.cpu_affinity()) if hasattr(proc, "cpu_affinity") else cpus
            if not planned & set(allowed):
                continue
            out.append(BusyProcess(pid, proc.name(), round(100 * share, 1), tuple(allowed)))
        except psutil.Error:
            continue
    return sorted(out, key=lambda b: -b.cpu_percent)


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            time.sleep(0.05)


def _stop_postmaster(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown: the backends go with it
    if not wait_pid_gone(pid, STOP_GRACE_S):
        _kill_group(pid)
