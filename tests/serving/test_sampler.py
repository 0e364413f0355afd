"""The one process-tree sampler (``chatbench.serving.sampler``), on a real process tree."""

from __future__ import annotations

import subprocess
import sys
import time

from chatbench.serving.sampler import TreeSampler

# A parent that starts a child burning ~0.3 s of CPU; the child exits first, the parent stays.
TREE = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', "
    "'import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.3: pass']); "
    "print('started', flush=True); child.wait(); print('child gone', flush=True); time.sleep(30)"
)


def test_cpu_of_an_exited_member_is_kept_and_totals_never_go_back() -> None:
    proc = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        sampler = TreeSampler(proc.pid)
        first = sampler.sample()
        assert first["processes"] == 2 and first["cpu_percent"] == 0.0
        deadline = time.monotonic() + 20
        while sampler.sample()["processes"] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        last = sampler.samples[-1]
        assert last["processes"] == 1  # the child exited...
        assert last["cpu_seconds"] >= 0.25  # ...and its CPU stayed in the total
        totals = [row["cpu_seconds"] for row in sampler.samples]
        assert totals == sorted(totals)
        assert set(last) >= {"t_s", "wall", "rss_bytes", "threads", "max_process_cpu_percent"}
    finally:
        proc.kill()
        proc.wait()


def test_sampling_in_a_thread_stops_when_asked() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sampler = TreeSampler(proc.pid).start(interval_s=0.05)
        deadline = time.monotonic() + 10
        while len(sampler.samples) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        count = len(sampler.stop())
        assert count >= 3
        time.sleep(0.2)  # four intervals: a sampler still running would have added rows
        assert len(sampler.samples) == count
    finally:
        proc.kill()
        proc.wait()
