"""py-spy on a real process tree: it samples, writes collapsed stacks, and never outlives us;
where it cannot attach, one sentence says why and nothing is left running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from chatbench.analysing.layers import parse_collapsed
from chatbench.serving import profiler

# A parent and a forked child, both busy in json (the layer table's JSON layer).
BUSY = """
import json, os, time
os.fork()
end = time.monotonic() + 60
while time.monotonic() < end:
    json.dumps({"k": list(range(50))})
"""
REFUSES = """#!/bin/sh
echo "Permission Denied: Try running again with elevated permissions by going 'sudo env \\"PATH=\\$PATH\\" !!'" >&2
exit 1
"""


@pytest.fixture
def busy_tree(tmp_path: Path):
    script = tmp_path / "busy.py"  # a file: py-spy's process frames quote the command line
    script.write_text(BUSY)
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    deadline = time.monotonic() + 10
    while len(psutil.Process(proc.pid).children()) < 1:
        assert time.monotonic() < deadline, "the child never forked"
        time.sleep(0.02)
    yield proc
    from chatbench.provisioning.processes import terminate_group

    terminate_group(proc, grace_s=2)


@pytest.fixture
def refusing_py_spy(tmp_path: Path) -> str:
    fake = tmp_path / "py-spy"
    fake.write_text(REFUSES)
    fake.chmod(0o755)
    return str(fake)


def py_spy_processes() -> list[psutil.Process]:
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if profiler.COMMAND_MARK in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:  # exited, or a zombie not yet reaped
            continue
    return found


def test_py_spy_samples_every_process_of_the_tree(busy_tree, tmp_path: Path) -> None:
    out = tmp_path / "stacks.txt"
    with profiler.start(busy_tree.pid, out) as spy:
        assert py_spy_processes()
        time.sleep(1.0)  # the window being sampled, not a synchronisation
        profile = spy.finish()
    assert not py_spy_processes()
    assert profile is not None and profile.path == out and profile.samples > 0
    assert profile.user_cpu_s > 0.5  # two busy processes for a second
    text = out.read_text()
    # --subprocesses: the forked child's stacks sit under the root's process frame.
    root, child = busy_tree.pid, psutil.Process(busy_tree.pid).children()[0].pid
    assert any(line.startswith(f"process {root}:") for line in text.splitlines())
    assert any(f";process {child}:" in line for line in text.splitlines())
    stacks = parse_collapsed(text)
    assert sum(n for _, n in stacks) == profile.samples
    assert any("json/" in frame for stack, _ in stacks for frame in stack)


def test_py_spy_is_stopped_when_the_profiled_work_fails(busy_tree, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), profiler.start(busy_tree.pid, tmp_path / "s.txt"):
        assert py_spy_processes()
        raise RuntimeError("the load failed")
    assert not py_spy_processes()


def test_a_refused_attach_is_one_sentence_and_leaves_nothing(
    busy_tree, tmp_path: Path, refusing_py_spy: str
) -> None:
    with pytest.raises(profiler.ProfilerUnavailable) as caught:
        profiler.check_attach(busy_tree.pid, py_spy=refusing_py_spy)
    message = str(caught.value)
    assert message.startswith(
        f"py-spy could not attach to process {busy_tree.pid} (Permission Denied"
    )
    assert "\n" not in message
    with pytest.raises(profiler.ProfilerUnavailable, match="Permission Denied"):
        profiler.start(busy_tree.pid, tmp_path / "s.txt", py_spy=refusing_py_spy)
    assert not py_spy_processes()
