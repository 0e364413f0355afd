"""The lifeline: kill -9 of the harness leaves no process and no scratch directory of its own.

One fast check of the watchdog on its own (a harness that starts a process group, registers it
and a directory, and is killed), and the real thing: ``chatbench run`` with the smoke profile,
provisioning its own Postgres, killed with SIGKILL while Locust is loading the service.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from chatbench.provisioning import lifeline

REPO_ROOT = Path(__file__).resolve().parents[2]
CHATBENCH = REPO_ROOT / ".venv" / "bin" / "chatbench"
TAG_VAR = "CHATBENCH_LIFELINE_TEST"
GONE_WITHIN_S = 10.0

# A harness in miniature: a process group and a directory on the lifeline, and a child that
# carries the harness's pid but was never registered (as when a Ctrl-C lands between a start
# and its registration); then it waits to be killed. It prints the registered group's pid.
HARNESS = """
import os, subprocess, sys, time
from chatbench.provisioning import lifeline
sleep = [sys.executable, '-c', 'import time; time.sleep(120)']
ours = {**os.environ, lifeline.OWNER_VAR: str(os.getpid())}  # as processes.spawn sets it
worker = subprocess.Popen(sleep, start_new_session=True, env=ours)
lifeline.watch('group', worker.pid)
lifeline.watch('dir', sys.argv[1])
unregistered = subprocess.Popen(sleep, start_new_session=True, env=ours)
print(worker.pid, lifeline.watchdog_pid(), flush=True)
time.sleep(120)
"""


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A TMPDIR of the test's own, short (Postgres' socket path is limited), removed after."""
    path = Path(tempfile.mkdtemp(prefix="cbl-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def tagged(tag: str) -> list[psutil.Process]:
    """Live processes whose environment carries ``tag``: everything the harness started."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(TAG_VAR) == tag:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def command(proc: psutil.Process) -> str:
    """Its command line ("" once it is gone: backends and workers come and go)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def wait_until(check, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def describe(procs: list[psutil.Process]) -> list[str]:
    return [f"{proc.pid}: {command(proc)[:120]}" for proc in procs]


def test_the_watchdog_kills_what_the_harness_started_and_removes_its_directory(
    scratch: Path,
) -> None:
    keep = scratch / "scratch-dir"
    keep.mkdir()
    (keep / "file").write_text("x")
    tag = uuid.uuid4().hex
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(keep)],
        cwd=REPO_ROOT,
        env={**os.environ, TAG_VAR: tag},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        worker_pid, watchdog_pid = map(int, harness.stdout.readline().split())
        assert psutil.pid_exists(worker_pid) and psutil.pid_exists(watchdog_pid)
        harness.kill()
        harness.wait(timeout=10)
        assert wait_until(lambda: tagged(tag) == [], GONE_WITHIN_S), describe(tagged(tag))
        assert not keep.exists()
    finally:
        if harness.poll() is None:
            harness.kill()
        harness.stdout.close()
        for proc in tagged(tag):
            proc.kill()


def test_a_released_thing_survives_the_harness(scratch: Path) -> None:
    """Released means the harness dealt with it: the watchdog must not touch it."""
    keep = scratch / "kept"
    keep.mkdir()
    code = (
        "import sys; from chatbench.provisioning import lifeline; "
        "lifeline.watch('dir', sys.argv[1]); lifeline.release('dir', sys.argv[1]); "
        "print(lifeline.watchdog_pid(), flush=True)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(keep)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    watchdog = int(out.stdout)
    assert wait_until(lambda: not psutil.pid_exists(watchdog), GONE_WITHIN_S)
    assert keep.is_dir()


def test_kill_9_of_a_real_run_leaves_nothing_of_its_own(tmp_path: Path, scratch: Path) -> None:
    """SIGKILL to `chatbench run` (smoke profile, its own embedded Postgres) while Locust runs:
    within 10 s no process it started is alive (services, Locust, the postmaster and its
    backends, the watchdog itself) and its scratch directories are gone."""
    tag = uuid.uuid4().hex
    cmd = [
        str(CHATBENCH), "run", "--profile", "smoke", "--warmup", "1", "--duration", "30",
        "--variants", "django", "--out", str(tmp_path),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env |= {"TMPDIR": str(scratch), TAG_VAR: tag}
    env.pop("CHATBENCH_DATABASE_URL", None)
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:

        def loading() -> bool:
            names = " ".join(command(p) for p in tagged(tag))
            return "locust" in names and "gunicorn" in names

        assert wait_until(lambda: proc.poll() is not None or loading(), 90), "no load phase"
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace")[-2000:]
        assert any("postgres -D" in command(p) for p in tagged(tag))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert wait_until(lambda: tagged(tag) == [], GONE_WITHIN_S), describe(tagged(tag))
        assert wait_until(lambda: list(scratch.iterdir()) == [], 2.0), list(scratch.iterdir())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        for left in tagged(tag):
            left.kill()


def test_watch_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown lifeline kind"):
        lifeline.watch("socket", "/tmp/x")


def test_a_reused_id_is_not_killed(tmp_path: Path) -> None:
    """A registered group or cluster whose process is gone may have its id reused by anyone:
    the watchdog kills only processes carrying the harness's pid, and signals a postmaster
    only while its command line names the registered data directory."""
    bystander = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    data = tmp_path / "data"
    data.mkdir()
    (data / "postmaster.pid").write_text(f"{bystander.pid}\n")
    try:
        registered = {"group": {str(bystander.pid)}, "cluster": {str(data)}, "dir": set()}
        lifeline.cleanup(registered, owner=os.getpid())
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
