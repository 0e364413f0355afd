"""Latency data: HDR histograms and the ``requests.json`` files our Locust listener writes.

Every Locust process that runs users writes one partial file (``requests-<host>-<pid>.json``, the same
format as the merged ``requests.json``, see docs/interfaces.md) when it quits. This module reads
those files once into one typed, frozen document (``RequestsDocument``; its format version is
checked on read), merges them (histograms with ``HdrHistogram.add``, counts summed) and answers
percentile questions. Pure functions and frozen models only; nothing here starts or waits.

Histograms hold response times in microseconds, 1 µs .. 60 s, 3 significant digits (a value is
known to within 0.1 %). Values outside that range are clamped by the recorder. Each process's
event-loop lag (``loop_lag``, same histogram range) is merged too, and summarised per process:
a stalled loop delays only its own process's users, so it is judged process by process.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

REQUESTS_FORMAT_VERSION = 1  # a format of its own, shared with loadtests/recorder.py
LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_FIGURES = 3
DEFAULT_PERCENTILES: tuple[float, ...] = (50, 90, 95, 99, 99.9)
Number = int | float

# Counters that add up across processes (integer fields of RequestsDocument).
_SUMMED_COUNTERS = (
    "successful_creates",
    "warmup_successful_creates",
    "drain_successful_creates",
    "unfinished_creates",
    "behind_schedule",
    "scheduled",
    "sent_on_time",
    "dropped",
)


class RequestsFileError(ValueError):
    """A requests file is missing, unreadable or not in a format this version understands."""


def new_histogram() -> HdrHistogram:
    """An empty histogram with the project's fixed range and precision."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def record_us(hist: HdrHistogram, value_us: float) -> None:
    """Record one latency in µs, clamped into the histogram's range (as the recorder does)."""
    hist.record_value(min(max(int(round(value_us)), LOWEST_US), HIGHEST_US))


def encode(hist: HdrHistogram) -> str:
    """Compressed, base64 HdrHistogram V2 payload (readable by any HdrHistogram library)."""
    return hist.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    """Inverse of :func:`encode`."""
    return HdrHistogram.decode(text.encode("ascii"))


def add_into(target: HdrHistogram, other: HdrHistogram) -> HdrHistogram:
    """``target += other``; returns target.

    hdrhistogram 0.10.8's ``add`` sets the minimum to 0 when ``other`` is empty, so empty
    histograms are skipped rather than added.
    """
    if other.get_total_count():
        target.add(other)
    return target


def merge_histograms(hists: Iterable[HdrHistogram]) -> HdrHistogram:
    """One histogram holding every value of ``hists``."""
    merged = new_histogram()
    for hist in hists:
        add_into(merged, hist)
    return merged


def percentiles(
    hist: HdrHistogram, ps: Sequence[float] = DEFAULT_PERCENTILES
) -> dict[float, float]:
    """Percentile -> milliseconds (float). NaN for every percentile of an empty histogram."""
    if not hist.get_total_count():
        return {float(p): math.nan for p in ps}
    values = hist.get_percentile_to_value_dict([float(p) for p in ps])
    return {float(p): values[float(p)] / 1000.0 for p in ps}


# --- request files -------------------------------------------------------------------------


class _Part(BaseModel):
    """A part of a requests document: immutable; a key this format does not define is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Counts(_Part):
    """Requests seen for one endpoint (``totals``, ``outside_window``)."""

    count: int = 0
    failures: int = 0


class EndpointLatency(Counts):
    """One endpoint over the measured window: counts, and its successful responses' latency
    histogram (``hdr``, µs)."""

    hdr: str


class SeriesRow(EndpointLatency):
    """One endpoint in one whole second since ``measure_start``."""

    second: int
    endpoint: str


class UsersSample(_Part):
    """Users in force in one second of the measured window (ramp)."""

    second: int
    users: int


class OutsideWindow(_Part):
    """Requests that completed before (``warmup``) or after (``drain``) the measured window."""

    warmup: dict[str, Counts] = {}
    drain: dict[str, Counts] = {}


class LoopLagData(_Part):
    """How late the event loop woke a sleeping probe (µs histogram ``hdr``) in the window.

    A per-process file has ``interval_ms``, ``count`` and ``hdr`` only; a merged one also has
    ``processes`` and the worst single process's ``worst_process_p99_ms`` and ``max_ms``."""

    interval_ms: float
    count: int
    hdr: str
    processes: int | None = None
    worst_process_p99_ms: float | None = None
    max_ms: float | None = None


class ProcessContribution(_Part):
    """What one Locust process contributed to a merged file's measured window (an audit)."""

    pids: tuple[int, ...]
    count: int
    failures: int
    recorded: int
    successful_creates: int
    loop_lag_count: int | None = None
    loop_lag_p99_ms: float | None = None
    loop_lag_max_ms: float | None = None


class RequestsDocument(_Part):
    """A ``requests.json`` (merged) or ``requests-<host>-<pid>.json`` (one process), typed.

    Read by :func:`read_requests` (or :func:`parse_requests`), which refuses a format version
    other than ``REQUESTS_FORMAT_VERSION``; written by :func:`write_requests` with exactly the
    keys it was read or built with, so a file read and written back is unchanged. Fields that
    older files lack (``scheduled``, ``sent_on_time``, ``dropped``, ``loop_lag``,
    ``per_process``) read as 0 / absent. Histograms stay encoded (``hdr`` strings)."""

    format_version: int
    scenario: str | None = None
    mode: str | None = None
    target_rate: Number | None = None
    arrivals: str | None = None  # rate mode: "even" or "poisson" (loadtests/arrivals.py)
    warmup_s: float = 0.0
    measure_start: float
    measure_end: float
    duration_s: float
    processes: tuple[int, ...] = ()
    successful_creates: int = 0
    warmup_successful_creates: int = 0
    drain_successful_creates: int = 0
    successful_creates_total: int = 0
    unfinished_creates: int = 0
    behind_schedule: int = 0
    scheduled: int = 0  # rate mode: sends the users' schedules put inside the window
    sent_on_time: int = 0  # of them, those sent before the window closed
    dropped: int = 0
    endpoints: dict[str, EndpointLatency]
    series: tuple[SeriesRow, ...] = ()
    users_series: tuple[UsersSample, ...] = ()
    loop_lag: LoopLagData | None = None
    totals: dict[str, Counts] = {}
    outside_window: OutsideWindow = OutsideWindow()
    per_process: tuple[ProcessContribution, ...] = ()

    @field_validator("format_version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != REQUESTS_FORMAT_VERSION:
            raise ValueError(f"format_version {version!r}, expected {REQUESTS_FORMAT_VERSION}")
        return version

    @property
    def completed(self) -> int:
        """Requests completed in the measured window, every endpoint, failures included."""
        return sum(e.count for e in self.endpoints.values())

    @property
    def failures(self) -> int:
        """Failed requests in the measured window, every endpoint."""
        return sum(e.failures for e in self.endpoints.values())

    def endpoint_histogram(self, endpoint: str) -> HdrHistogram:
        """The measured-window histogram of one endpoint (empty when it saw nothing)."""
        row = self.endpoints.get(endpoint)
        return decode(row.hdr) if row else new_histogram()

    def all_endpoints_histogram(self) -> HdrHistogram:
        """All endpoints together: the latency of "a request" in this scenario."""
        return merge_histograms(decode(row.hdr) for row in self.endpoints.values())

    def dump(self) -> dict[str, Any]:
        """The document as the file holds it: exactly the keys it was read or built with."""
        return self.model_dump(exclude_unset=True)


def parse_requests(data: Any, source: str = "requests document") -> RequestsDocument:
    """Check and type a parsed requests file (``source`` names it in the error)."""
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != REQUESTS_FORMAT_VERSION:
        raise RequestsFileError(
            f"{source}: requests format_version {version!r}, expected {REQUESTS_FORMAT_VERSION}"
        )
    try:
        return RequestsDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RequestsFileError(f"{source}: {where}: {first['msg']}") from exc


def read_requests(path: str | os.PathLike[str]) -> RequestsDocument:
    """Read a requests file (partial or merged), checking its format version."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RequestsFileError(f"cannot read requests file {path}: {exc}") from exc
    return parse_requests(data, str(path))


def write_requests(doc: RequestsDocument, path: str | os.PathLike[str]) -> Path:
    """Write atomically (temp file + rename): readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc.dump(), fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _add_counts(target: dict[str, Counts], source: Mapping[str, Counts]) -> None:
    for endpoint, row in source.items():
        acc = target.get(endpoint, Counts(count=0, failures=0))
        target[endpoint] = Counts(count=acc.count + row.count, failures=acc.failures + row.failures)


class _Bucket:
    """Counts and a histogram being summed over processes."""

    def __init__(self) -> None:
        self.count = 0
        self.failures = 0
        self.hist = new_histogram()

    def add(self, row: EndpointLatency) -> None:
        self.count += row.count
        self.failures += row.failures
        add_into(self.hist, decode(row.hdr))


def merge_requests(docs: Sequence[RequestsDocument]) -> RequestsDocument:
    """Merge per-process request documents into one (the ``requests.json`` of a run).

    Histograms are added, counters summed, users summed per second. The measured window is the
    union of the processes' windows; they share the master's start time, so they differ by
    milliseconds at most.
    """
    if not docs:
        raise RequestsFileError("no request files to merge")

    first = docs[0]
    duration = max(d.duration_s for d in docs)

    endpoints: dict[str, _Bucket] = {}
    for doc in docs:
        for name, row in doc.endpoints.items():
            endpoints.setdefault(name, _Bucket()).add(row)

    series: dict[tuple[int, str], _Bucket] = {}
    for doc in docs:
        for srow in doc.series:
            series.setdefault((srow.second, srow.endpoint), _Bucket()).add(srow)
    # Every second of the window for every endpoint seen: a stalled second shows as count 0.
    n_seconds = max([int(math.ceil(duration - 1e-9))] + [s + 1 for s, _ in series])
    for name in endpoints:
        for second in range(n_seconds):
            series.setdefault((second, name), _Bucket())

    users: dict[int, int] = {}
    for doc in docs:
        for sample in doc.users_series:
            users[sample.second] = users.get(sample.second, 0) + sample.users

    totals: dict[str, Counts] = {}
    warmup: dict[str, Counts] = {}
    drain: dict[str, Counts] = {}
    for doc in docs:
        _add_counts(totals, doc.totals)
        _add_counts(warmup, doc.outside_window.warmup)
        _add_counts(drain, doc.outside_window.drain)

    counters = {name: sum(getattr(d, name) for d in docs) for name in _SUMMED_COUNTERS}
    lag = merge_loop_lag(docs)
    return RequestsDocument(
        format_version=REQUESTS_FORMAT_VERSION,
        scenario=first.scenario,
        mode=first.mode,
        target_rate=first.target_rate,
        arrivals=first.arrivals,
        warmup_s=first.warmup_s,
        measure_start=min(d.measure_start for d in docs),
        measure_end=max(d.measure_end for d in docs),
        duration_s=duration,
        processes=tuple(sorted(pid for d in docs for pid in d.processes)),
        endpoints={
            name: EndpointLatency(count=acc.count, failures=acc.failures, hdr=encode(acc.hist))
            for name, acc in sorted(endpoints.items())
        },
        series=tuple(
            SeriesRow(
                second=second,
                endpoint=name,
                count=acc.count,
                failures=acc.failures,
                hdr=encode(acc.hist),
            )
            for (second, name), acc in sorted(series.items())
        ),
        users_series=tuple(UsersSample(second=s, users=u) for s, u in sorted(users.items())),
        totals=dict(sorted(totals.items())),
        outside_window=OutsideWindow(warmup=warmup, drain=drain),
        # What each process contributed to the measured window, so a merge can be audited.
        per_process=tuple(_contribution(d) for d in docs),
        **({"loop_lag": lag} if lag is not None else {}),
        **counters,
        successful_creates_total=(
            counters["warmup_successful_creates"]
            + counters["successful_creates"]
            + counters["drain_successful_creates"]
        ),
    )


def _contribution(doc: RequestsDocument) -> ProcessContribution:
    rows = doc.endpoints.values()
    lag = _lag_summary(decode(doc.loop_lag.hdr)) if doc.loop_lag is not None else {}
    return ProcessContribution(
        pids=doc.processes,
        count=doc.completed,
        failures=doc.failures,
        recorded=sum(decode(r.hdr).get_total_count() for r in rows),
        successful_creates=doc.successful_creates,
        **lag,
    )


def _lag_summary(hist: HdrHistogram) -> dict[str, Any]:
    """count, p99 and max of a loop-lag histogram, in ms (None when it holds no wake-up)."""
    count = hist.get_total_count()
    return {
        "loop_lag_count": count,
        "loop_lag_p99_ms": percentiles(hist, [99])[99.0] if count else None,
        "loop_lag_max_ms": hist.get_max_value() / 1000.0 if count else None,
    }


def merge_loop_lag(docs: Sequence[RequestsDocument]) -> LoopLagData | None:
    """The ``loop_lag`` of a merged requests file (None when no input recorded one).

    ``hdr`` holds every process's wake-ups; ``worst_process_p99_ms`` and ``max_ms`` are the
    highest of any one process, the figures the load generator is judged on (one process's
    stalled loop inflates its own users' latencies, and merging would dilute it).
    """
    lags = [d.loop_lag for d in docs if d.loop_lag is not None]
    if not lags:
        return None
    hists = [decode(lag.hdr) for lag in lags]
    per_process = [_lag_summary(h) for h in hists]
    p99s = [p["loop_lag_p99_ms"] for p in per_process if p["loop_lag_count"]]
    maxes = [p["loop_lag_max_ms"] for p in per_process if p["loop_lag_count"]]
    return LoopLagData(
        interval_ms=lags[0].interval_ms,
        processes=len(lags),
        count=sum(p["loop_lag_count"] for p in per_process),
        hdr=encode(merge_histograms(hists)),
        worst_process_p99_ms=max(p99s) if p99s else None,
        max_ms=max(maxes) if maxes else None,
    )


def merge_request_files(paths: Iterable[str | os.PathLike[str]]) -> RequestsDocument:
    """Read and merge per-process request files (see :func:`merge_requests`)."""
    return merge_requests([read_requests(p) for p in sorted(paths, key=str)])
