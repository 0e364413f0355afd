"""The CPU plan: which cores the service gets, and which the load generator and Postgres share.

The service under test is pinned apart from everything that drives or serves it, so a busy
load generator cannot steal the service's CPU (nor the reverse). Where the OS does not offer
affinity, or there is a single core, the plan says so and pins nothing.

On the shared CPUs the load generator yields to the service's dependencies: it runs under
``SCHED_IDLE`` (:func:`loadgen_preexec`), so Postgres (and Valkey) run first whenever they have
work, as they would on a host of their own. Locust spends more CPU per request than wrk;
at normal priority that CPU can delay Postgres's answers, and a service that waits for each
query in a thread (Django on gunicorn gthread: 3 processes on one core) pays for the waits in
context switches. ``chatbench crosscheck --normal-priority`` measures the difference. The
loop-lag half of ``loadhealth`` guards the other side: a load generator that waits too long
for its CPU marks the repetition invalid.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from chatbench.errors import UsageError

# The plan's note on a platform without CPU affinity; the CPU-separation rule then reads
# "not checked" (nothing could be pinned, so nothing was broken).
NO_AFFINITY_NOTE = "not pinned: CPU affinity is unavailable on this platform"


@dataclass(frozen=True)
class CpuPlan:
    server: tuple[int, ...]
    loadgen: tuple[int, ...]  # Locust and Postgres
    pinned: bool
    note: str
    # False keeps the load generator at normal priority (``chatbench crosscheck
    # --normal-priority``, to measure what yielding changes).
    yield_loadgen: bool = True

    @property
    def server_cpu_count(self) -> int:
        return len(self.server)

    @property
    def loadgen_yields(self) -> bool:
        """Whether the load generator runs under SCHED_IDLE: unless ``yield_loadgen`` is off,
        and only when it is pinned apart from the service (sharing the service's CPUs, it would
        yield to the service itself and could not drive it)."""
        return (
            self.yield_loadgen
            and self.pinned
            and not set(self.server) & set(self.loadgen)
            and hasattr(os, "SCHED_IDLE")
        )

    def as_dict(self) -> dict:
        return {
            "affinity": affinity_supported(),
            "server": list(self.server),
            "loadgen": list(self.loadgen),
            "postgres": list(self.loadgen),
            "pinned": self.pinned,
            "loadgen_policy": "SCHED_IDLE" if self.loadgen_yields else "normal",
            "note": self.note,
        }


def affinity_supported() -> bool:
    """Whether this OS lets a process read and set CPU affinity (Linux does, macOS does not)."""
    return hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")


def available_cpus() -> tuple[int, ...]:
    if affinity_supported():
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


def parse_cpus(text: str, option: str) -> tuple[int, ...]:
    """``"1"``, ``"0,2"`` or ``"2-3"`` → a tuple of CPU ids."""
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-", 1)
                cpus.update(range(int(lo), int(hi) + 1))
            elif part:
                cpus.add(int(part))
    except ValueError:
        raise UsageError(
            f"{option} must be CPU ids like '1' or '0,2' or '2-3', not {text!r}."
        ) from None
    if not cpus:
        raise UsageError(f"{option} names no CPU.")
    return tuple(sorted(cpus))


def make_plan(server: str | None = None, loadgen: str | None = None) -> CpuPlan:
    """Split the CPUs this process may use; explicit choices are validated, not second-guessed."""
    avail = available_cpus()
    can_pin = affinity_supported()
    if server is not None or loadgen is not None:
        if not can_pin:
            raise UsageError(
                "CPU pinning is not available on this OS; drop --server-cpus/--loadgen-cpus."
            )
        s = parse_cpus(server, "--server-cpus") if server else None
        g = parse_cpus(loadgen, "--loadgen-cpus") if loadgen else None
        for cpus, opt in ((s, "--server-cpus"), (g, "--loadgen-cpus")):
            if cpus and not set(cpus) <= set(avail):
                raise UsageError(f"{opt} names CPUs outside the available set {list(avail)}.")
        s = s or tuple(c for c in avail if c not in (g or ())) or avail
        g = g or tuple(c for c in avail if c not in s) or avail
        note = "pinned as requested"
        if set(s) & set(g):
            note = "server and load generator share CPUs (requested)"
        return CpuPlan(server=s, loadgen=g, pinned=True, note=note)
    if not can_pin:
        return CpuPlan(avail, avail, False, NO_AFFINITY_NOTE)
    if len(avail) < 2:
        return CpuPlan(avail, avail, False, "one CPU only: service, Locust and Postgres share it")
    half = len(avail) // 2
    # The service gets the upper half; Locust and Postgres share the lower half (CPU 0 also
    # takes most interrupt work on small VMs, which the load side tolerates better).
    return CpuPlan(
        server=avail[half:],
        loadgen=avail[:half],
        pinned=True,
        note=f"service on CPUs {list(avail[half:])}, Locust and Postgres on {list(avail[:half])}",
    )


def loadgen_preexec(cpus: tuple[int, ...] | None, *, yield_cpu: bool) -> Callable[[], None] | None:
    """What a load-generator child runs before exec: pin it to ``cpus`` and, with
    ``yield_cpu``, put it under SCHED_IDLE (children, e.g. Locust's worker processes, inherit
    both)."""
    if not cpus and not yield_cpu:
        return None
    cpu_set = set(cpus or ())

    def prepare() -> None:
        if cpu_set:
            os.sched_setaffinity(0, cpu_set)
        if yield_cpu:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

    return prepare


def pin(pid: int, cpus: tuple[int, ...]) -> None:
    """Pin one process; its future children inherit the mask."""
    if affinity_supported():
        os.sched_setaffinity(pid, cpus)


def affinity(pid: int) -> tuple[int, ...] | None:
    """The mask actually in force, read back from the OS."""
    try:
        return tuple(sorted(os.sched_getaffinity(pid)))
    except (OSError, AttributeError):
        return None
