"""The one process-tree sampler: CPU seconds, CPU %, RSS, processes and threads of a tree.

Used for the service (master + workers, sampled in a thread while it is under load) and for
Locust (master + worker processes, sampled by the load loop itself). CPU time of members that
exited (recycled workers, a Locust worker that quit first) is kept, so totals never go
backwards. Rows are the ``samples.csv`` columns (see docs/interfaces.md) plus
``max_process_cpu_percent``, the busiest single member since the previous sample.
"""

from __future__ import annotations

import threading
import time

import psutil


class TreeSampler:
    """Samples the tree rooted at ``root_pid``; ``samples`` holds every row taken."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.t_start = time.monotonic()
        self.samples: list[dict[str, float]] = []
        self._procs: dict[int, psutil.Process] = {}
        self._cpu_by_pid: dict[int, float] = {}  # last CPU seconds seen, kept after exit
        self._prev_by_pid: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> dict[str, float]:
        """One reading of the whole tree, appended to ``samples`` and returned."""
        self._discover()
        rss = threads = alive = 0
        for pid, proc in list(self._procs.items()):
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    mem = proc.memory_info().rss
                    n_threads = proc.num_threads()
                    zombie = proc.status() == psutil.STATUS_ZOMBIE
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                del self._procs[pid]
                continue
            if zombie:
                continue
            self._cpu_by_pid[pid] = times.user + times.system
            rss += mem
            threads += n_threads
            alive += 1
        t_s = time.monotonic() - self.t_start
        cpu = sum(self._cpu_by_pid.values())
        prev = self.samples[-1] if self.samples else None
        dt = t_s - prev["t_s"] if prev else 0.0
        pct = 100.0 * (cpu - prev["cpu_seconds"]) / dt if prev and dt > 0 else 0.0
        busiest = max(
            (
                100.0 * (c - self._prev_by_pid.get(pid, 0.0)) / dt
                for pid, c in self._cpu_by_pid.items()
                if prev and dt > 0
            ),
            default=0.0,
        )
        row = {
            "t_s": round(t_s, 3),
            "wall": round(time.time(), 3),  # epoch, the clock of requests.json's window
            "cpu_seconds": round(cpu, 4),
            "cpu_percent": round(pct, 1),
            "rss_bytes": rss,
            "processes": alive,
            "threads": threads,
            "max_process_cpu_percent": round(busiest, 1),
        }
        self.samples.append(row)
        self._prev_by_pid = dict(self._cpu_by_pid)
        return row

    def _discover(self) -> None:
        try:
            root = self._procs.get(self.root_pid) or psutil.Process(self.root_pid)
            self._procs.setdefault(self.root_pid, root)
            for child in root.children(recursive=True):
                self._procs.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    # -- in a thread of its own --------------------------------------------------------
    def start(self, interval_s: float = 0.5) -> TreeSampler:
        """Sample now, then every ``interval_s`` in a daemon thread until :meth:`stop`."""
        self.sample()

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.sample()

        self._thread = threading.Thread(target=loop, name=f"sampler-{self.root_pid}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[dict[str, float]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.samples


def reaped_tree_cpu_seconds(root_pid: int) -> float | None:
    """CPU seconds the tree rooted at ``root_pid`` has used, including children that already
    exited and were reaped by the root (their time accrues to its ``children_user`` and
    ``children_system``): a Postgres postmaster forks a backend per connection, and with a
    connection per request most backends live and die between two samples, so only the
    reaped total sees them. None when the root is gone or not readable."""
    try:
        root = psutil.Process(root_pid)
        with root.oneshot():
            times = root.cpu_times()
            total = times.user + times.system + times.children_user + times.children_system
            children = root.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    for child in children:
        try:
            t = child.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # exited between listing and reading: its time is (or soon is) reaped
        total += t.user + t.system
    return total
