"""Fairness evidence read from the OS and from the running services, never from our own plan.

``fairness`` judges; this module only looks: which CPUs the live processes may run on, whether
a service answers an unknown path with a debug page, whether its log holds access-log lines,
and whether it keeps an HTTP/1.1 connection open between requests.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from chatbench.provisioning.processes import process_tree

# uvicorn: `"GET /x HTTP/1.1" 200`; gunicorn: `"GET /x HTTP/1.1" 200 12 "-" "ua"`.
ACCESS_LINE = re.compile(r'"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ HTTP/\d')
DEBUG_MARKERS = ("Traceback", "URLconf", "DEBUG = True", "Request Method:")
UNKNOWN_PATH = "/chatbench-fairness-probe-no-such-path"


def tree_affinity(pid: int | None) -> list[int] | None:
    """Union of the CPU masks in force for ``pid`` and its descendants (None: not visible)."""
    return _union(process_tree(pid))


def _locust_processes() -> list[psutil.Process]:
    """The Locust processes this process started (found by command line)."""
    procs = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any("locust" in part for part in child.cmdline()):
                procs.append(child)
    return procs


def locust_affinity() -> list[int] | None:
    """Masks of the Locust processes this process started."""
    return _union(_locust_processes())


def locust_policies() -> list[str]:
    """The scheduling policies the OS applies to those Locust processes (``SCHED_IDLE`` when
    the plan makes the load generator yield to Postgres, else ``SCHED_OTHER``)."""
    names = {
        getattr(os, n): n for n in ("SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE") if hasattr(os, n)
    }
    found = set()
    for proc in _locust_processes():
        with contextlib.suppress(OSError, AttributeError):
            found.add(names.get(os.sched_getscheduler(proc.pid), "other"))
    return sorted(found)


def _union(procs: list[psutil.Process]) -> list[int] | None:
    cpus: set[int] = set()
    seen = False
    for p in procs:
        with contextlib.suppress(psutil.Error, AttributeError):
            cpus.update(p.cpu_affinity())
            seen = True
    return sorted(cpus) if seen else None


def access_log_lines(log_path: Path) -> int:
    """How many lines of a service log look like HTTP access-log entries."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if ACCESS_LINE.search(line))


def probe_service(base_url: str, *, timeout_s: float = 5.0) -> dict:
    """Debug page on an unknown path? Is the connection kept open for a second request?"""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        conn.request("GET", UNKNOWN_PATH)
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", errors="replace")
        first_sock = conn.sock
        conn.request("GET", "/health")
        resp2 = conn.getresponse()
        resp2.read()
        kept = first_sock is not None and conn.sock is first_sock
    finally:
        conn.close()
    return {
        "not_found_status": resp.status,
        "debug_page": any(m in body for m in DEBUG_MARKERS),
        "keep_alive": kept,
    }
