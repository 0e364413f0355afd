"""The control probe: the machine's speed, measured in the same run as the services.

A stored baseline compares figures taken at other times, maybe on another runner; a runner
that is 20 % slower today makes every service look 20 % slower. So every run also measures a
fixed control that no commit changes: a client process, pinned to the *service's* CPUs, runs a
fixed loop of primary-key SELECTs against the run's seeded template database on the same
Postgres (whose CPUs are those it shares with the load generator). It touches the same things
a service request does — Python on the service CPUs, a loopback round trip, a Postgres
backend — so its operations per second track the machine's speed for this workload, and a
metric divided by it (``chatbench.analysing.gate``'s normalised figures) stays comparable across
runners.

The probe runs between loads, never during one: it connects to the template database only
(not a variant's), holds one connection and closes it before the next clone, so neither the
connection cap nor the per-variant ``pg_stat_statements`` figures see it (the runner also
resets the template's statistics after it).

Run as ``python -m chatbench.measuring.control SECONDS`` with the database URL in ``CHATBENCH_CONTROL_URL``
(not on the command line, where ``ps`` would show its password): it prints one JSON object.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from chatbench.configuration.paths import REPO_ROOT
from chatbench.provisioning.processes import pinned_command

QUERY = "SELECT id, role, content, session_id, created_at FROM chat_messages WHERE id = %s"
DESCRIPTION = (
    "primary-key SELECTs of chat_messages, one connection, prepared, from a Python client "
    "pinned to the service CPUs"
)
MAX_SECONDS = 2.0
MIN_SECONDS = 0.25
FULL_PROBE_FROM_S = 10.0  # measured seconds per repetition from which the probe runs MAX_SECONDS
WARMUP_FRACTION = 0.1  # of the probe's seconds, run first and not counted
ID_STRIDE = 7919  # a prime: the walk visits every id of the template before repeating
TIMEOUT_S = 60.0
URL_VAR = "CHATBENCH_CONTROL_URL"
FAILED = "control probe failed: "  # how the child's one-line error starts


class ControlError(Exception):
    """The probe could not measure (recorded in the run, never fatal to it)."""


@dataclass(frozen=True)
class ControlResult:
    """One probe: operations per second and the median time of one operation."""

    ops_per_s: float
    p50_ms: float
    ops: int
    seconds: float
    cpus: list[int] | None  # the CPU mask the probe actually ran with

    def as_dict(self) -> dict:
        return asdict(self)


def probe_seconds(duration_s: float) -> float:
    """How long a run of ``duration_s`` measured seconds probes: 2 s from 10 s up (the ci,
    quick and full profiles), a quarter second below (smoke runs and tests, which check that
    things work, not figures: thousands of operations are still plenty for a rate)."""
    return MAX_SECONDS if duration_s >= FULL_PROBE_FROM_S else MIN_SECONDS


def measure_in_process(database_url: str, seconds: float) -> ControlResult:
    """The probe itself, in this process (``measure`` runs it in a pinned child)."""
    import psycopg

    try:
        conn = psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        why = " ".join(str(exc).split())  # libpq's message spans lines
        raise ControlError(f"cannot connect to the control database: {why}") from None
    with conn:
        top = conn.execute("SELECT coalesce(max(id), 0) FROM chat_messages").fetchone()[0]
        if top < 1:
            raise ControlError("the control database holds no rows")
        latencies: list[int] = []
        i = 0
        warm_until = time.perf_counter() + seconds * WARMUP_FRACTION
        while time.perf_counter() < warm_until:
            i += 1
            conn.execute(QUERY, ((i * ID_STRIDE) % top + 1,), prepare=True).fetchone()
        start = time.perf_counter()
        end = start + seconds
        now = start
        while now < end:
            i += 1
            conn.execute(QUERY, ((i * ID_STRIDE) % top + 1,), prepare=True).fetchone()
            after = time.perf_counter()
            latencies.append(int((after - now) * 1e9))
            now = after
        elapsed = now - start
    latencies.sort()
    mid = len(latencies) // 2
    p50_ns = latencies[mid] if len(latencies) % 2 else (latencies[mid - 1] + latencies[mid]) / 2
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return ControlResult(
        ops_per_s=len(latencies) / elapsed,
        p50_ms=p50_ns / 1e6,
        ops=len(latencies),
        seconds=elapsed,
        cpus=cpus,
    )


def measure(
    database_url: str, *, seconds: float, cpus: tuple[int, ...] | None = None
) -> ControlResult:
    """Run the probe in a child process pinned to ``cpus`` (the service's) and wait for it.

    A child, not a thread: the runner's own threads must not share the probe's interpreter,
    and pinning applies to the whole process from its first instruction (``taskset``).
    """
    argv = pinned_command([sys.executable, "-m", __spec__.name, f"{seconds:g}"], cpus)
    try:
        done = subprocess.run(
            argv,
            cwd=Path(REPO_ROOT),
            env={**os.environ, URL_VAR: database_url},
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S + seconds,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:  # subprocess.run kills the child before raising
        raise ControlError(f"the probe did not finish within {TIMEOUT_S + seconds:g} s") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        said = [x.removeprefix(FAILED) for x in lines if x.startswith(FAILED)]
        raise ControlError(said[-1] if said else f"the probe exited with {lines[-1]}")
    try:
        doc = json.loads(done.stdout)
        result = ControlResult(**doc)
    except (ValueError, TypeError) as exc:
        raise ControlError(f"the probe printed something unreadable ({exc})") from None
    if not (math.isfinite(result.ops_per_s) and result.ops_per_s > 0 and result.ops > 0):
        raise ControlError(f"the probe measured no operations ({result.ops} in {result.seconds}s)")
    return result


def main(argv: list[str]) -> int:
    import psycopg

    url = os.environ.get(URL_VAR)
    if len(argv) != 1 or not url:
        print(f"usage: {URL_VAR}=postgresql://… python -m {__spec__.name} SECONDS", file=sys.stderr)
        return 2
    try:
        result = measure_in_process(url, float(argv[0]))
    except (ControlError, ValueError) as exc:
        print(FAILED + " ".join(str(exc).split()), file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(FAILED + "its query failed: " + " ".join(str(exc).split()), file=sys.stderr)
        return 1
    print(json.dumps(result.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
