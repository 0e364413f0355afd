"""Process-group cleanup: nothing a service started may outlive it."""

from __future__ import annotations

import subprocess
import sys

import psutil

from chatbench.provisioning import processes

# A "master" that starts a worker in its own process group and then dies at once, as a crashed
# gunicorn master does: the worker is orphaned but keeps the group id.
ORPHANING_MASTER = (
    "import subprocess, sys; "
    "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "print(p.pid, flush=True)"
)


def test_terminate_group_kills_workers_of_a_dead_master() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHANING_MASTER], stdout=subprocess.PIPE, start_new_session=True
    )
    worker_pid = int(proc.stdout.readline())
    proc.wait(timeout=10)
    proc.stdout.close()
    assert psutil.pid_exists(worker_pid) and processes.group_alive(proc.pid)

    processes.terminate_group(proc, grace_s=5)

    assert not processes.group_alive(proc.pid)
    if psutil.pid_exists(worker_pid):  # only a zombie awaiting its reaper may remain
        assert psutil.Process(worker_pid).status() == psutil.STATUS_ZOMBIE


def test_terminate_group_stops_a_running_group() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    assert processes.group_alive(proc.pid)
    processes.terminate_group(proc, grace_s=5)
    assert proc.returncode is not None and not processes.group_alive(proc.pid)


def test_a_zombie_is_not_alive_and_a_running_process_is() -> None:
    """``pid_alive``: a process that exited but was not reaped yet (a zombie, as an orphan
    stays under a PID 1 that never reaps) is gone; ``wait_pid_gone`` sees it go."""
    argv = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE)
    try:
        assert processes.pid_alive(proc.pid)
        assert not processes.wait_pid_gone(proc.pid, 0.1)  # still running: not gone in time
        proc.stdin.close()  # it exits; nothing reaps it until proc.wait below
        assert processes.wait_pid_gone(proc.pid, 10.0)
        assert psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE
        assert not processes.pid_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert not processes.pid_alive(proc.pid)
    # initdb's standalone backend writes its pid negated into postmaster.pid.
    assert not processes.pid_alive(-proc.pid) and not processes.pid_alive(0)


def test_leftover_check_blames_only_this_sessions_processes(tmp_path) -> None:
    """The session-end check finds a marker process we started, not one started elsewhere."""
    from tests import conftest

    # "valkey-server" in argv makes it look like one of ours; only the env tag decides.
    argv = [sys.executable, "-c", "import time; time.sleep(60)", "valkey-server"]
    mine = processes.spawn(argv, env={}, log_path=tmp_path / "mine.log")
    other = processes.spawn(
        argv, env={conftest.SESSION_TAG_VAR: "another-session"}, log_path=tmp_path / "other.log"
    )
    try:
        found = " ".join(conftest.our_leftover_processes())
        assert f"{mine.pid}:" in found
        assert f"{other.pid}:" not in found
    finally:
        for proc in (mine, other):
            processes.terminate_group(proc)
    assert f"{mine.pid}:" not in " ".join(conftest.our_leftover_processes())
