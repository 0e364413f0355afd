"""The sampling profiler: py-spy attached to a running service's whole process tree.

``start`` runs ``py-spy record --pid ROOT --subprocesses --gil --rate RATE_HZ --format raw``
against the service's root process: py-spy follows every worker the root has (gunicorn and
uvicorn workers alike) and writes collapsed stacks (``frame;frame;… count`` a line), the
lossless form the layer table (``analysing.layers``), the flame graph and the speedscope file
are made from. It starts in a process group of its own (``provisioning.processes``), pinned
to the load generator's CPUs so it never takes the service's, and is stopped with SIGINT
(py-spy then writes its file), the group killed if it does not exit: ``Profiler`` is a
``StopOnExit``, stopped on success, failure and Ctrl-C alike.

**Which samples.** ``--gil``: a sample is the stack of the thread that holds its process's
GIL, i.e. runs Python (or C called with the GIL held: orjson, pydantic-core). Without it,
py-spy samples every thread Linux reports runnable, and on a saturated service that includes
threads queued for a CPU or for the GIL, whose stacks still sit in the wait they just left
(psycopg's ``Connection.wait``, ``selectors``): counted as work they are not.
``--idle`` is off for the same reason: idle threads are no CPU. The GIL holder is sampled
while it runs, in the kernel too (a system call made holding the GIL), and while it waits for a
CPU; on the service's own pinned CPUs only its own workers take turns. ``start`` and ``stop``
read the tree's user and system CPU seconds (psutil) for the record: the system share tells
how much CPU ran with the GIL released (socket I/O), which no sample shows.

**Attaching.** py-spy reads the service's memory with ptrace. Where the OS refuses (no
``CAP_SYS_PTRACE``, Yama ptrace_scope), py-spy exits before it starts sampling and ``start``
raises ``ProfilerUnavailable`` with its reason in one sentence; the run says so and goes on
without profiles.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from chatbench.provisioning.processes import (
    StopOnExit,
    process_tree,
    read_log,
    spawn,
    terminate_group,
)

RATE_HZ = 100  # py-spy's default: 10 ms between samples of each process
ATTACH_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 20.0
# The command line's mark (tests/conftest.py's leftover check looks for it).
COMMAND_MARK = "py-spy"
PY_SPY_ENV = "CHATBENCH_PY_SPY"  # which py-spy to run (tests point it at one that refuses)
_SAMPLING = "Sampling process"
_COUNTS = re.compile(r"Samples: (\d+) Errors: (\d+)")


class ProfilerUnavailable(Exception):
    """py-spy is missing or could not attach; the message is one sentence saying why."""


@dataclass(frozen=True)
class TreeCpu:
    """User and system CPU seconds of a process tree, summed over its live members."""

    user_s: float
    system_s: float

    @staticmethod
    def read(pid: int) -> TreeCpu:
        user = system = 0.0
        for proc in process_tree(pid):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = proc.cpu_times()
                user += times.user
                system += times.system
        return TreeCpu(user, system)


@dataclass(frozen=True)
class Profile:
    """What one profiled window left: the collapsed stacks' file and the CPU it covered."""

    path: Path
    samples: int
    errors: int
    seconds: float
    user_cpu_s: float
    system_cpu_s: float


@dataclass
class Profiler(StopOnExit):
    """A running py-spy (see the module docstring); ``stop`` returns its ``Profile``."""

    proc: subprocess.Popen
    root_pid: int
    output: Path
    log_path: Path
    started_at: float = 0.0
    cpu_at_start: TreeCpu = field(default_factory=lambda: TreeCpu(0.0, 0.0))
    result: Profile | None = None

    def stop(self) -> None:
        """Stop py-spy (it writes its file on SIGINT), whatever state it is in; idempotent."""
        if self.result is not None or self.proc.poll() is not None:
            terminate_group(self.proc, grace_s=1.0)
            return
        cpu = TreeCpu.read(self.root_pid)
        seconds = time.monotonic() - self.started_at
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        terminate_group(self.proc, grace_s=1.0)
        found = _COUNTS.findall(read_log(self.log_path))
        samples, errors = (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)
        self.result = Profile(
            self.output,
            samples,
            errors,
            seconds,
            max(0.0, cpu.user_s - self.cpu_at_start.user_s),
            max(0.0, cpu.system_s - self.cpu_at_start.system_s),
        )

    def finish(self) -> Profile | None:
        """Stop and return the profile (None when py-spy wrote no file)."""
        self.stop()
        if self.result is None or not self.output.is_file():
            return None
        return self.result


def executable() -> str | None:
    """``$CHATBENCH_PY_SPY`` when set, else the py-spy next to this interpreter (the venv's),
    else one on PATH."""
    chosen = os.environ.get(PY_SPY_ENV)
    if chosen:
        return chosen
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")


def command(
    pid: int | str, output: Path, *, rate_hz: int = RATE_HZ, py_spy: str = "py-spy"
) -> list[str]:
    """The py-spy command line (see the module docstring for each choice)."""
    return [
        py_spy, "record", "--pid", str(pid), "--subprocesses", "--gil",
        "--rate", str(rate_hz), "--format", "raw", "--output", str(output),
    ]  # fmt: skip


def check_attach(
    pid: int, *, py_spy: str | None = None, timeout_s: float = ATTACH_TIMEOUT_S
) -> None:
    """``py-spy dump`` of ``pid`` once: raises ``ProfilerUnavailable`` (one sentence) when
    py-spy is missing or the OS does not let it attach, before any load is spent on it."""
    py_spy = py_spy or executable()
    if py_spy is None:
        raise ProfilerUnavailable("py-spy is not installed (make venv installs it)")
    try:
        done = subprocess.run([py_spy, "dump", "--pid", str(pid)], capture_output=True,
                              text=True, timeout=timeout_s, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ProfilerUnavailable(
            f"py-spy could not read process {pid} within {timeout_s:g} s"
        ) from None
    if done.returncode != 0:
        reason = _reason(done.stderr + "\n" + done.stdout)
        raise ProfilerUnavailable(f"py-spy could not attach to process {pid} ({reason})")


def start(
    pid: int,
    output: Path,
    *,
    rate_hz: int = RATE_HZ,
    cpus: tuple[int, ...] | None = None,
    py_spy: str | None = None,
    attach_timeout_s: float = ATTACH_TIMEOUT_S,
) -> Profiler:
    """py-spy sampling the tree of ``pid`` into ``output`` until ``stop``; returns once it
    samples. Raises ``ProfilerUnavailable`` (nothing left running) when it cannot."""
    py_spy = py_spy or executable()
    if py_spy is None:
        raise ProfilerUnavailable("py-spy is not installed (make venv installs it)")
    output.parent.mkdir(parents=True, exist_ok=True)
    log_path = output.with_name(output.name + ".log")
    log_path.unlink(missing_ok=True)
    proc = spawn(command(pid, output, rate_hz=rate_hz, py_spy=py_spy), env={},
                 log_path=log_path, cpus=cpus)  # fmt: skip
    profiler = Profiler(proc, pid, output, log_path)
    try:
        deadline = time.monotonic() + attach_timeout_s
        while _SAMPLING not in read_log(log_path):
            if proc.poll() is not None:
                raise ProfilerUnavailable(
                    f"py-spy could not attach to process {pid} ({_reason(read_log(log_path))})"
                )
            if time.monotonic() > deadline:
                raise ProfilerUnavailable(
                    f"py-spy did not start sampling process {pid} within {attach_timeout_s:g} s"
                )
            time.sleep(0.05)
        profiler.started_at = time.monotonic()
        profiler.cpu_at_start = TreeCpu.read(pid)
    except BaseException:
        terminate_group(proc, grace_s=1.0)
        raise
    return profiler


def _reason(log: str) -> str:
    """py-spy's own reason, first line of it: ``Permission Denied: …``, ``Error: …``."""
    for line in log.splitlines():
        line = line.strip()
        if line and not line.startswith(("Stack backtrace", "0:", "py-spy> Sampling")):
            return line.rstrip(".")
    return "it exited without saying why"
