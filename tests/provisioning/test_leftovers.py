"""The survey before a run: leftovers found, only what is provably ours and dead cleaned."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from chatbench.configuration import settings as config
from chatbench.measuring.watch import Silent
from chatbench.provisioning import cpuplan, leftovers
from chatbench.provisioning.lifeline import OWNER_VAR
from chatbench.storing.recording import Recorder, header
from chatbench.workflows.preflight import look_before


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def scratch_dir(tmp_path: Path, name: str, owner: str | None) -> Path:
    path = tmp_path / f"chatbench-{name}"
    path.mkdir()
    if owner is not None:
        (path / leftovers.OWNER_FILE).write_text(owner)
    return path


def test_a_dead_owners_directory_is_cleaned_others_are_reported_and_kept(tmp_path: Path) -> None:
    dead = scratch_dir(tmp_path, "pg-dead", f"{dead_pid()} 1.0\n")
    me = leftovers.me()
    live = scratch_dir(tmp_path, "pg-live", f"{me.pid} {me.started!r}\n")
    reused = scratch_dir(tmp_path, "pg-reused", f"{me.pid} 1.0\n")  # my pid, another start time
    unknown = scratch_dir(tmp_path, "serve-old", None)
    (tmp_path / "not-ours").mkdir()

    found = leftovers.survey([], tmpdir=tmp_path)
    by_path = {Path(x.what).name: x for x in found.leftovers if x.kind == "directory"}
    assert sorted(by_path) == ["chatbench-pg-dead", "chatbench-pg-live", "chatbench-pg-reused",
                               "chatbench-serve-old"]  # fmt: skip
    assert by_path["chatbench-pg-live"].owner_alive is True
    assert by_path["chatbench-serve-old"].owner_pid is None
    assert "no owner recorded" in leftovers.describe(by_path["chatbench-serve-old"])

    # Only this test's directories: the survey also sees the machine's processes.
    cleaned = leftovers.clean(leftovers.Survey(tuple(by_path.values()), (), ()))
    assert sorted(Path(x.what).name for x in cleaned) == [
        "chatbench-pg-dead",
        "chatbench-pg-reused",
    ]
    assert not dead.exists() and not reused.exists()
    assert live.is_dir() and unknown.is_dir()


def test_an_orphan_of_a_dead_harness_is_found_and_stopped() -> None:
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, OWNER_VAR: str(dead_pid())},
        start_new_session=True,
    )
    mine = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, OWNER_VAR: str(os.getpid())},
        start_new_session=True,
    )
    try:
        found = leftovers.survey([], tmpdir=Path(tempfile.mkdtemp()))
        pids = [x.pid for x in found.leftovers if x.kind == "process"]
        assert orphan.pid in pids and mine.pid not in pids
        # Only this test's orphan: the survey sees the whole machine.
        mine_only = tuple(x for x in found.leftovers if x.pid == orphan.pid)
        leftovers.clean(leftovers.Survey(mine_only, (), ()))
        assert orphan.wait(timeout=10) is not None
        assert mine.poll() is None
    finally:
        for proc in (orphan, mine):
            proc.kill()
            proc.wait()


# A launcher that starts a CPU spinner pinned to one CPU and exits: the spinner is not our
# child (the survey leaves this process's own children out), as another user's job would not be.
SPINNER = """
import os, subprocess, sys
cpu = int(sys.argv[1])
spin = "import os\\nos.sched_setaffinity(0, {%d})\\nwhile True: pass" % cpu
print(subprocess.Popen([sys.executable, "-c", spin], start_new_session=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_a_busy_process_on_a_planned_cpu_is_reported() -> None:
    cpu = max(cpuplan.available_cpus())
    launched = subprocess.run([sys.executable, "-c", SPINNER, str(cpu)], capture_output=True,
                              text=True, check=True, timeout=30)  # fmt: skip
    spinner = psutil.Process(int(launched.stdout))
    try:
        deadline = time.monotonic() + 10
        while spinner.cpu_affinity() != [cpu]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        found = leftovers.survey([cpu], tmpdir=Path(tempfile.mkdtemp()))
        busy = {b.pid: b for b in found.busy}
        assert spinner.pid in busy and busy[spinner.pid].cpu_percent > 20
        assert busy[spinner.pid].cpus == (cpu,)
        assert leftovers.survey([], tmpdir=Path(tempfile.mkdtemp())).busy == ()
    finally:
        spinner.kill()


def test_the_run_records_the_survey_and_warns(tmp_path: Path, monkeypatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    scratch_dir(scratch, "pg-dead", f"{dead_pid()} 1.0\n")
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    cfg = config.build("smoke", variants=("django",))
    plan = cpuplan.make_plan()
    recorder = Recorder(tmp_path, header(cfg, plan, run_id="r", question="q?", crosscheck=None))
    look_before(plan, recorder, Silent())
    record = recorder.record
    assert record.preflight is not None
    assert record.preflight.cpus == sorted({*plan.server, *plan.loadgen})
    [left] = [x for x in record.preflight.leftovers if x.kind == "directory"]
    assert left.kind == "directory" and left.cleaned and left.owner_alive is False
    assert any("1 scratch directories" in w and "1 cleaned up" in w for w in record.warnings)
    assert list(scratch.iterdir()) == []
    assert "preflight" in record.dump()
