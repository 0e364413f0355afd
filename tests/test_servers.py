"""Process-group cleanup: nothing a service started may outlive it."""

from __future__ import annotations

import subprocess
import sys

import psutil

from chatbench import servers

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
    assert psutil.pid_exists(worker_pid) and servers.group_alive(proc.pid)

    servers.terminate_group(proc, grace_s=5)

    assert not servers.group_alive(proc.pid)
    if psutil.pid_exists(worker_pid):  # only a zombie awaiting its reaper may remain
        assert psutil.Process(worker_pid).status() == psutil.STATUS_ZOMBIE


def test_terminate_group_stops_a_running_group() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    assert servers.group_alive(proc.pid)
    servers.terminate_group(proc, grace_s=5)
    assert proc.returncode is not None and not servers.group_alive(proc.pid)
