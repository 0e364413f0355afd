"""The lifeline: what a killed harness started dies with it.

``kill -9`` gives the harness no ``finally``: a gunicorn master and its workers, Locust, Valkey
and the embedded Postgres would run on, and their scratch directories stay. PR_SET_PDEATHSIG
alone cannot cover them: pg_ctl daemonizes the postmaster (the setting is cleared on fork), the
server runs as another user (cleared on a credential change) and the signal follows the
*thread* that forked, not the process (Locust is started from worker threads).

So the first time the harness starts something, it starts a watchdog: this file run as a script
by the same interpreter, standard library only, in a session of its own (a Ctrl-C in the
terminal is the harness's to handle). Its stdin is a pipe whose only writer is the harness;
each process group, Postgres data directory and scratch directory the harness starts is
registered on it and released once stopped. When the pipe closes (the harness exited, however
it died) the watchdog kills every process whose environment names the harness (``OWNER_VAR``,
which spawn and Locust set: registered or not, as a child started a moment before a Ctrl-C
is) with its process group, stops the registered clusters' postmasters, waits for them to go
and removes the registered directories, then exits. Process ids are reused: a group is killed
only while a member still carries the harness's pid, a postmaster only while its command line
names its data directory.

Lines on the pipe: ``+group PGID``, ``+cluster DATA_DIR``, ``+dir PATH`` register; the same
with ``-`` release.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

KINDS = ("group", "cluster", "dir")
# What the harness's children carry in their environment: the harness's pid. The leftover
# scan (chatbench.provisioning.leftovers) finds processes of a run whose harness is gone by it.
OWNER_VAR = "CHATBENCH_OWNER_PID"
POSTMASTER_GRACE_S = 5.0

_lock = threading.Lock()
_watchdog: subprocess.Popen | None = None
_watchdog_owner: int | None = None


def watch(kind: str, value: object) -> None:
    """Register ``value`` (a process group id, a Postgres data directory or a scratch
    directory) for cleanup if the harness dies before releasing it."""
    _send("+", kind, value)


def release(kind: str, value: object) -> None:
    """The harness stopped or removed ``value`` itself: the watchdog forgets it."""
    _send("-", kind, value, start=False)


def watchdog_pid() -> int | None:
    """The running watchdog's pid (None before anything was registered)."""
    return _watchdog.pid if _watchdog is not None and _watchdog.poll() is None else None


def _send(op: str, kind: str, value: object, *, start: bool = True) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown lifeline kind {kind!r}")
    text = str(value)
    if "\n" in text:
        raise ValueError("a lifeline value is one line")
    with _lock:
        proc = _ensure_watchdog() if start else _current_watchdog()
        if proc is None or proc.stdin is None:
            return
        try:
            proc.stdin.write(f"{op}{kind} {text}\n".encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the watchdog is gone: nothing more it can do for us


def _current_watchdog() -> subprocess.Popen | None:
    # A forked child (multiprocessing) inherits the module state, not the watchdog.
    if _watchdog is None or _watchdog_owner != os.getpid():
        return None
    return _watchdog


def _ensure_watchdog() -> subprocess.Popen | None:
    global _watchdog, _watchdog_owner
    current = _current_watchdog()
    if current is not None and current.poll() is None:
        return current
    _watchdog = subprocess.Popen(
        [sys.executable, "-I", str(Path(__file__).resolve()), str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _watchdog_owner = os.getpid()
    return _watchdog


# --- the watchdog side (stdlib only: it runs as a script, not inside the package) -------------
# Own copies of processes.pid_alive / group_alive: this script imports only the standard library.


def _alive(pid: int) -> bool:
    """A live, non-zombie process ``pid`` (an orphan may stay a zombie under a PID 1 that
    never reaps)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _group_alive(pgid: int) -> bool:
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _postmaster_pid(data_dir: str) -> int | None:
    """The live postmaster of ``data_dir``: the pid in its postmaster.pid, only while that
    process's command line names the directory (a pid is reused once its process is gone)."""
    try:
        pid = int((Path(data_dir) / "postmaster.pid").read_text().splitlines()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path("/proc").is_dir() else None
    except (OSError, ValueError, IndexError):
        return None
    if cmdline is not None and data_dir.encode() not in cmdline:
        return None
    return pid


def _wait(check, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not check():
            return True
        time.sleep(0.05)
    return not check()


def _carrying(owner: int) -> list[int]:
    """Processes whose environment names ``owner`` as their harness (``OWNER_VAR``): every
    child it started through ``processes.spawn`` or Locust, registered or not (a Ctrl-C can
    land between a child's start and its registration)."""
    mark = f"{OWNER_VAR}={owner}".encode()
    found = []
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def cleanup(registered: dict[str, set[str]], owner: int | None = None) -> None:
    """Kill the harness's children and the postmasters, then remove the registered directories.

    A group is killed only while a live member carries the harness's pid (``OWNER_VAR``): a
    registered group that ended on its own may have its id reused by anyone's process by now.
    """
    groups: set[int] = set()
    if owner is None:  # a harness that did not say who it is: trust the registrations
        groups = {int(value) for value in registered["group"]}
    for pid in _carrying(owner) if owner is not None else ():
        try:
            pgid = os.getpgid(pid)
        except OSError:
            continue
        if pgid == pid or str(pgid) in registered["group"]:
            groups.add(pgid)  # a session of the harness's (spawn, Locust): all of it
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    postmasters = [p for p in map(_postmaster_pid, registered["cluster"]) if p is not None]
    for pid in postmasters:
        # SIGQUIT is Postgres's immediate shutdown: the postmaster stops its backends and exits.
        try:
            os.kill(pid, signal.SIGQUIT)
        except (ProcessLookupError, PermissionError):
            continue
    for pid in postmasters:
        if not _wait(lambda pid=pid: _alive(pid), POSTMASTER_GRACE_S):
            for kill in (os.kill, os.killpg):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(pid, signal.SIGKILL)
        # pg_ctl made the postmaster a session leader: its backends share its group.
        _wait(lambda pid=pid: _group_alive(pid), POSTMASTER_GRACE_S)
    for pgid in groups:
        _wait(lambda pgid=pgid: _group_alive(pgid), POSTMASTER_GRACE_S)
    for value in registered["dir"]:
        shutil.rmtree(value, ignore_errors=True)


def main() -> None:
    # Neither a terminal's Ctrl-C nor its hang-up is for us: only the pipe's end is.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    owner = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else None
    registered: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for raw in sys.stdin.buffer:
        line = raw.decode(errors="replace").rstrip("\n")
        op, _, rest = line.partition(" ")
        kind = op[1:]
        if op[:1] not in "+-" or kind not in registered or not rest:
            continue
        if op[0] == "+":
            registered[kind].add(rest)
        else:
            registered[kind].discard(rest)
    cleanup(registered, owner)


if __name__ == "__main__":
    main()
