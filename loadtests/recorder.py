"""Per-process request recorder: every response time, in µs, into HDR histograms.

Locust's own percentiles are bucketed and its final CSV row is a stale snapshot, so figures come
from here instead. One ``Recorder`` lives in each Locust process that runs users; at quit it
writes ``requests-<host>-<pid>.json`` (the ``requests.json`` format of docs/interfaces.md, for this
process alone) and ``chatbench.latency.merge_request_files`` merges them.

The window: ``t0`` is the start of the test (the master's, broadcast to workers), requests that
complete before ``t0 + warmup_s`` are warm-up, those completing in ``[t0 + warmup_s,
t0 + warmup_s + measure_s)`` are measured, later ones are drain (users finishing their last
request after the stop). Warm-up and drain are counted, never put into the histograms. Only
successful responses go into histograms; failures are counted.

Event-loop lag: the locustfile runs a greenlet that asks gevent to sleep ``LAG_INTERVAL_S`` and
reports how late it woke (``record_lag``). Every greenlet of the process shares one loop, so a
late wake-up is a stall that every user in the process saw: a response sitting unread while the
loop was busy elsewhere (or the process was not given the CPU), its latency inflated by as much.
Wake-ups inside the measured window go into a per-process HDR histogram (µs), ``loop_lag``.

Depends on Locust and hdrhistogram only: the load generator needs nothing from the harness.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from hdrh.histogram import HdrHistogram


def process_tag() -> str:
    """``<host>-<pid>``: unique per Locust process even across containers/machines, where every
    worker often has the same pid (compose), so per-process files and session ids never clash."""
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:20] or "host"
    return f"{host}-{os.getpid()}"


FORMAT_VERSION = 1
LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_FIGURES = 3

CREATE = "POST /api/chat/messages"
# Key in a request's context holding its intended send time (rate mode, epoch seconds).
INTENDED_KEY = "chatbench_intended"
# A send that starts later than this after its intended time counts as behind schedule.
LATE_TOLERANCE_S = 0.005
# Rate mode: a send due in the last DUE_GRACE_S of the window is not judged (see count_schedule);
# one due earlier that had not gone out when the window closed was dropped.
DUE_GRACE_S = 0.1
# The loop-lag probe's sleep: 100 wake-ups a second, a switch each (negligible beside
# thousands of requests), and fine enough that a stall of a few ms is seen.
LAG_INTERVAL_S = 0.01


class Schedule(Protocol):
    """A rate-mode user's send schedule (``arrivals.py``), as the recorder counts it."""

    def count_between(self, start: float, end: float) -> int: ...


def _new_hist() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


class _Counts:
    __slots__ = ("count", "failures")

    def __init__(self) -> None:
        self.count = 0
        self.failures = 0

    def as_dict(self) -> dict[str, int]:
        return {"count": self.count, "failures": self.failures}


class _Bucket(_Counts):
    __slots__ = ("hist",)

    def __init__(self) -> None:
        super().__init__()
        self.hist = _new_hist()


class Recorder:
    """Collects one process's requests; hooked to Locust's ``events.request``."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.config: dict[str, Any] = {}
        self.measure_start = math.inf
        self.measure_end = math.inf
        self.endpoints: dict[str, _Bucket] = {}
        self.series: dict[tuple[int, str], _Bucket] = {}
        self.totals: dict[str, _Counts] = {}
        self.outside: dict[str, dict[str, _Counts]] = {"warmup": {}, "drain": {}}
        self.users: dict[int, int] = {}
        self.successful_creates = 0
        self.warmup_successful_creates = 0
        self.drain_successful_creates = 0
        self.creates_started = 0
        self.creates_completed = 0
        self.behind_schedule = 0
        self.scheduled = 0  # rate mode: sends due inside the measured window
        self.sent_on_time = 0  # of them, those that went out before the window closed
        self.dropped = 0
        self.loop_lag = _new_hist()

    @property
    def started(self) -> bool:
        return self.t0 is not None

    def start(self, t0: float, config: dict[str, Any]) -> None:
        """Open the window: config holds warmup_s and measure_s (plus labels for the file)."""
        self.t0 = t0
        self.config = dict(config)
        self.measure_start = t0 + float(config["warmup_s"])
        self.measure_end = self.measure_start + float(config["measure_s"])

    def close_window(self, t: float) -> None:
        """End the measured window at ``t`` (epoch s), earlier than planned: the harness ends an
        open-model window as soon as it can hold its tail (SIGUSR1, see the locustfile)."""
        self.measure_end = min(self.measure_end, max(t, self.measure_start))

    def create_started(self) -> None:
        """A POST is about to be sent (to count creates whose outcome was never seen)."""
        self.creates_started += 1

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: BaseException | None = None,
        context: dict | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        now = time.time()
        if self.t0 is None:
            return
        ok = exception is None
        if name == CREATE:
            self.creates_completed += 1
        intended = context.get(INTENDED_KEY) if context else None
        if (
            intended is not None
            and start_time is not None
            and self.measure_start <= intended < self.measure_end - DUE_GRACE_S
            and start_time < self.measure_end
        ):
            self.sent_on_time += 1
        total = self.totals.get(name)
        if total is None:
            total = self.totals[name] = _Counts()
        total.count += 1
        total.failures += not ok

        if now < self.measure_start or now >= self.measure_end:
            phase = "warmup" if now < self.measure_start else "drain"
            row = self.outside[phase].get(name)
            if row is None:
                row = self.outside[phase][name] = _Counts()
            row.count += 1
            row.failures += not ok
            if ok and name == CREATE:
                if phase == "warmup":
                    self.warmup_successful_creates += 1
                else:
                    self.drain_successful_creates += 1
            return

        if intended is not None and start_time is not None:
            # Coordinated-omission correction: latency counts from when the request should
            # have been sent, not from when a backed-up user got round to sending it.
            latency_us = (start_time - intended) * 1e6 + response_time * 1000.0
            if start_time - intended > LATE_TOLERANCE_S:
                self.behind_schedule += 1
        else:
            latency_us = response_time * 1000.0
        value = min(max(int(latency_us + 0.5), LOWEST_US), HIGHEST_US)

        second = int(now - self.measure_start)
        bucket = self.endpoints.get(name)
        if bucket is None:
            bucket = self.endpoints[name] = _Bucket()
        per_second = self.series.get((second, name))
        if per_second is None:
            per_second = self.series[(second, name)] = _Bucket()
        bucket.count += 1
        per_second.count += 1
        if ok:
            bucket.hist.record_value(value)
            per_second.hist.record_value(value)
            if name == CREATE:
                self.successful_creates += 1
        else:
            bucket.failures += 1
            per_second.failures += 1

    def count_schedule(self, schedules: Iterable[Schedule], now: float | None = None) -> None:
        """Rate mode, at the end: how many sends the users' schedules (``arrivals.py``) put
        inside the measured window, but for its last ``DUE_GRACE_S`` (``scheduled``); those not
        gone out by the window's end are ``dropped`` (k6's ``dropped_iterations``). Exact,
        whatever the arrival process: the achieved rate is judged against the schedule, not
        against rate × seconds. The grace: a user waiting for its slot when the test stops is
        stopped with it, so a send due in the window's last milliseconds may never go out
        although nothing was late."""
        now = time.time() if now is None else now
        end = min(self.measure_end, max(now, self.measure_start))
        due_by = max(self.measure_start, end - DUE_GRACE_S)
        self.scheduled = sum(s.count_between(self.measure_start, due_by) for s in schedules)
        self.dropped = max(0, self.scheduled - self.sent_on_time)

    def record_lag(self, lag_s: float, now: float | None = None) -> None:
        """The loop woke ``lag_s`` later than asked (at ``now``); kept when inside the window.

        A wake-up a hair early (timer rounding) counts as no lag."""
        now = time.time() if now is None else now
        if self.measure_start <= now < self.measure_end:
            value = min(max(int(lag_s * 1e6 + 0.5), LOWEST_US), HIGHEST_US)
            self.loop_lag.record_value(value)

    def sample_users(self, user_count: int, now: float | None = None) -> None:
        """Users running in this process; the last sample in each measured second wins."""
        now = time.time() if now is None else now
        if self.measure_start <= now < self.measure_end:
            self.users[int(now - self.measure_start)] = user_count

    def to_doc(self, now: float | None = None) -> dict[str, Any]:
        """This process's data in the requests.json format (see docs/interfaces.md)."""
        now = time.time() if now is None else now
        if self.t0 is None:
            raise RuntimeError("recorder was never started")
        # An interrupted run ends its window at the interruption.
        end = min(self.measure_end, max(now, self.measure_start))
        duration = end - self.measure_start

        def enc(hist: HdrHistogram) -> str:
            return hist.encode().decode("ascii")

        return {
            "format_version": FORMAT_VERSION,
            "scenario": self.config.get("scenario"),
            "mode": self.config.get("mode"),
            "target_rate": self.config.get("target_rate"),
            "arrivals": self.config.get("arrivals"),
            "warmup_s": float(self.config["warmup_s"]),
            "measure_start": self.measure_start,
            "measure_end": end,
            "duration_s": duration,
            "processes": [os.getpid()],
            "successful_creates": self.successful_creates,
            "warmup_successful_creates": self.warmup_successful_creates,
            "drain_successful_creates": self.drain_successful_creates,
            "successful_creates_total": (
                self.warmup_successful_creates
                + self.successful_creates
                + self.drain_successful_creates
            ),
            "unfinished_creates": self.creates_started - self.creates_completed,
            "behind_schedule": self.behind_schedule,
            "scheduled": self.scheduled,
            "sent_on_time": self.sent_on_time,
            "dropped": self.dropped,
            "endpoints": {
                name: {"count": b.count, "failures": b.failures, "hdr": enc(b.hist)}
                for name, b in sorted(self.endpoints.items())
            },
            "series": [
                {
                    "second": second,
                    "endpoint": name,
                    "count": b.count,
                    "failures": b.failures,
                    "hdr": enc(b.hist),
                }
                for (second, name), b in sorted(self.series.items())
            ],
            "users_series": [{"second": s, "users": u} for s, u in sorted(self.users.items())],
            "loop_lag": {
                "interval_ms": LAG_INTERVAL_S * 1000.0,
                "count": self.loop_lag.get_total_count(),
                "hdr": enc(self.loop_lag),
            },
            "totals": {name: c.as_dict() for name, c in sorted(self.totals.items())},
            "outside_window": {
                phase: {name: c.as_dict() for name, c in sorted(rows.items())}
                for phase, rows in self.outside.items()
            },
        }

    def write(self, directory: str | os.PathLike[str], now: float | None = None) -> Path:
        """Write ``requests-<host>-<pid>.json`` atomically into directory; returns its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"requests-{process_tag()}.json"
        fd, tmp = tempfile.mkstemp(prefix=".requests-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_doc(now), fh, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
