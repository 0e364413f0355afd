"""Latency data: HDR histograms and the ``requests.json`` files our Locust listener writes.

Every Locust process that runs users writes one partial file (``requests-<host>-<pid>.json``, the same
format as the merged ``requests.json``, see docs/interfaces.md) when it quits. This module reads
those files, merges them (histograms with ``HdrHistogram.add``, counts summed) and answers
percentile questions. Pure functions only; nothing here starts or waits for anything.

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

REQUESTS_FORMAT_VERSION = 1  # a format of its own, shared with loadtests/recorder.py
LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_FIGURES = 3
DEFAULT_PERCENTILES: tuple[float, ...] = (50, 90, 95, 99, 99.9)

# Counters that add up across processes (top-level integer fields of a request file).
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


def read_requests(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a requests file (partial or merged) and check its format version."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RequestsFileError(f"cannot read requests file {path}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format_version") != REQUESTS_FORMAT_VERSION:
        version = doc.get("format_version") if isinstance(doc, dict) else None
        raise RequestsFileError(
            f"{path}: requests format_version {version!r}, expected {REQUESTS_FORMAT_VERSION}"
        )
    return doc


def write_requests(doc: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write atomically (temp file + rename): readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _add_counts(target: dict[str, dict[str, int]], source: Mapping[str, Mapping[str, int]]) -> None:
    for endpoint, row in source.items():
        acc = target.setdefault(endpoint, {"count": 0, "failures": 0})
        acc["count"] += int(row.get("count", 0))
        acc["failures"] += int(row.get("failures", 0))


def merge_requests(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge per-process request documents into one (the ``requests.json`` of a run).

    Histograms are added, counters summed, users summed per second. The measured window is the
    union of the processes' windows; they share the master's start time, so they differ by
    milliseconds at most.
    """
    if not docs:
        raise RequestsFileError("no request files to merge")
    for doc in docs:
        if doc.get("format_version") != REQUESTS_FORMAT_VERSION:
            raise RequestsFileError(f"format_version {doc.get('format_version')!r} in merge input")

    first = docs[0]
    measure_start = min(float(d["measure_start"]) for d in docs)
    measure_end = max(float(d["measure_end"]) for d in docs)
    duration = max(float(d["duration_s"]) for d in docs)

    endpoints: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for name, row in doc["endpoints"].items():
            acc = endpoints.setdefault(name, {"count": 0, "failures": 0, "hist": new_histogram()})
            acc["count"] += int(row["count"])
            acc["failures"] += int(row["failures"])
            add_into(acc["hist"], decode(row["hdr"]))

    series: dict[tuple[int, str], dict[str, Any]] = {}
    for doc in docs:
        for row in doc.get("series", []):
            key = (int(row["second"]), row["endpoint"])
            acc = series.setdefault(key, {"count": 0, "failures": 0, "hist": new_histogram()})
            acc["count"] += int(row["count"])
            acc["failures"] += int(row["failures"])
            add_into(acc["hist"], decode(row["hdr"]))
    # Every second of the window for every endpoint seen: a stalled second shows as count 0.
    n_seconds = max([int(math.ceil(duration - 1e-9))] + [s + 1 for s, _ in series])
    for name in endpoints:
        for second in range(n_seconds):
            series.setdefault((second, name), {"count": 0, "failures": 0, "hist": new_histogram()})

    users: dict[int, int] = {}
    for doc in docs:
        for row in doc.get("users_series", []):
            users[int(row["second"])] = users.get(int(row["second"]), 0) + int(row["users"])

    totals: dict[str, dict[str, int]] = {}
    outside: dict[str, dict[str, dict[str, int]]] = {"warmup": {}, "drain": {}}
    for doc in docs:
        _add_counts(totals, doc.get("totals", {}))
        for phase in outside:
            _add_counts(outside[phase], doc.get("outside_window", {}).get(phase, {}))

    merged: dict[str, Any] = {
        "format_version": REQUESTS_FORMAT_VERSION,
        "scenario": first.get("scenario"),
        "mode": first.get("mode"),
        "target_rate": first.get("target_rate"),
        "warmup_s": first.get("warmup_s"),
        "measure_start": measure_start,
        "measure_end": measure_end,
        "duration_s": duration,
        "processes": sorted(pid for d in docs for pid in d.get("processes", [])),
        "endpoints": {
            name: {"count": acc["count"], "failures": acc["failures"], "hdr": encode(acc["hist"])}
            for name, acc in sorted(endpoints.items())
        },
        "series": [
            {
                "second": second,
                "endpoint": name,
                "count": acc["count"],
                "failures": acc["failures"],
                "hdr": encode(acc["hist"]),
            }
            for (second, name), acc in sorted(series.items())
        ],
        "users_series": [{"second": s, "users": u} for s, u in sorted(users.items())],
        "totals": dict(sorted(totals.items())),
        "outside_window": outside,
        # What each process contributed to the measured window, so a merge can be audited.
        "per_process": [_contribution(d) for d in docs],
    }
    lag = merge_loop_lag(docs)
    if lag is not None:
        merged["loop_lag"] = lag
    for counter in _SUMMED_COUNTERS:
        merged[counter] = sum(int(d.get(counter, 0)) for d in docs)
    merged["successful_creates_total"] = (
        merged["warmup_successful_creates"]
        + merged["successful_creates"]
        + merged["drain_successful_creates"]
    )
    return merged


def _contribution(doc: Mapping[str, Any]) -> dict[str, Any]:
    rows = doc["endpoints"].values()
    out = {
        "pids": list(doc.get("processes", [])),
        "count": sum(int(r["count"]) for r in rows),
        "failures": sum(int(r["failures"]) for r in rows),
        "recorded": sum(decode(r["hdr"]).get_total_count() for r in rows),
        "successful_creates": int(doc.get("successful_creates", 0)),
    }
    if doc.get("loop_lag"):
        out.update(_lag_summary(decode(doc["loop_lag"]["hdr"])))
    return out


def _lag_summary(hist: HdrHistogram) -> dict[str, Any]:
    """count, p99 and max of a loop-lag histogram, in ms (None when it holds no wake-up)."""
    count = hist.get_total_count()
    return {
        "loop_lag_count": count,
        "loop_lag_p99_ms": percentiles(hist, [99])[99.0] if count else None,
        "loop_lag_max_ms": hist.get_max_value() / 1000.0 if count else None,
    }


def merge_loop_lag(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The ``loop_lag`` of a merged requests file (None when no input recorded one).

    ``hdr`` holds every process's wake-ups; ``worst_process_p99_ms`` and ``max_ms`` are the
    highest of any one process, the figures the load generator is judged on (one process's
    stalled loop inflates its own users' latencies, and merging would dilute it).
    """
    lagged = [d for d in docs if d.get("loop_lag")]
    if not lagged:
        return None
    hists = [decode(d["loop_lag"]["hdr"]) for d in lagged]
    per_process = [_lag_summary(h) for h in hists]
    p99s = [p["loop_lag_p99_ms"] for p in per_process if p["loop_lag_count"]]
    maxes = [p["loop_lag_max_ms"] for p in per_process if p["loop_lag_count"]]
    return {
        "interval_ms": float(lagged[0]["loop_lag"]["interval_ms"]),
        "processes": len(lagged),
        "count": sum(p["loop_lag_count"] for p in per_process),
        "hdr": encode(merge_histograms(hists)),
        "worst_process_p99_ms": max(p99s) if p99s else None,
        "max_ms": max(maxes) if maxes else None,
    }


def merge_request_files(paths: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """Read and merge per-process request files (see :func:`merge_requests`)."""
    return merge_requests([read_requests(p) for p in sorted(paths, key=str)])


def endpoint_histogram(doc: Mapping[str, Any], endpoint: str) -> HdrHistogram:
    """The measured-window histogram of one endpoint (empty when the endpoint saw nothing)."""
    row = doc["endpoints"].get(endpoint)
    return decode(row["hdr"]) if row else new_histogram()


def all_endpoints_histogram(doc: Mapping[str, Any]) -> HdrHistogram:
    """All endpoints together: the latency of "a request" in this scenario."""
    return merge_histograms(decode(row["hdr"]) for row in doc["endpoints"].values())
