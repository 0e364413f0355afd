"""The tidy tables built from a run directory: every figure chatbench reports starts here.

Figures come from our own request listener's ``requests.json`` (exact counts, HDR histograms in
µs) and from ``samples.csv``, loaded by ``chatbench.storing.rundir``.

Tables (pandas, long/"tidy" form):

* ``repetition_metrics`` — one row per variant × repetition × endpoint × metric.
* ``time_series``        — one row per variant × repetition × second × endpoint.
* ``summarise``          — one row per variant × endpoint × metric: the figure over
  repetitions with its interval, by ``stats.interval`` (geometric mean with a 95 % t interval
  on the log values from 3 repetitions, the range of 2, nothing for 1; the ``interval`` column
  names which); this is ``summary.csv`` / ``summary.json``.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hdrh.histogram import HdrHistogram

from chatbench.analysing.stats import coefficient_of_variation, interval
from chatbench.configuration.endpoints import ALL, sort_key
from chatbench.load import latency
from chatbench.storing.atomic import write_json_atomic, write_text_atomic
from chatbench.storing.record import RUN_FORMAT_VERSION
from chatbench.storing.rundir import SAMPLE_COLUMNS, Repetition, Run, load_run

PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99_9": 99.9}
LATENCY_METRICS = (*PERCENTILES, "max")
ENDPOINT_METRICS = ("requests", "failures", "error_rate", "rps", *LATENCY_METRICS)
# Per variant × repetition only (endpoint ALL): they come from the whole server / load generator.
RESOURCE_METRICS = ("req_per_cpu_s", "server_cpu_s", "peak_rss_mb", "loadgen_busy_pct")
METRICS = (*ENDPOINT_METRICS, *RESOURCE_METRICS)
SUMMARY_COLUMNS = (
    "variant",
    "scenario",
    "endpoint",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "cv",
    "interval",  # stats method of ci_low/ci_high: t95-log, t95 (a value ≤ 0), range, none
    # Rate mode: how many of the n repetitions did not keep their rate (load.openloop); their
    # latency is a lower bound. 0 for closed and ramp loads.
    "overloaded",
)
_EPOCH_THRESHOLD = 1e8  # a t_s above this is epoch seconds
_MIB = 1024 * 1024


# --------------------------------------------------------------------------- HDR histograms


@functools.lru_cache(maxsize=8192)
def _decode(encoded: str) -> HdrHistogram:
    # Cached objects are shared: never mutate one, merge into a fresh histogram instead.
    return latency.decode(encoded)


def decode_hdr(encoded: str | bytes | None) -> HdrHistogram:
    """Decode a base64 HdrHistogram (µs); empty or missing → an empty histogram.

    The result may be shared (cached): do not record into it; use ``merge_hdr`` for a copy.
    """
    if not encoded:
        return latency.new_histogram()
    if isinstance(encoded, bytes):
        encoded = encoded.decode("ascii")
    return _decode(encoded)


def merge_hdr(encoded: Iterable[str | bytes | None]) -> HdrHistogram:
    """A new histogram holding every value of ``encoded``."""
    return latency.merge_histograms(decode_hdr(item) for item in encoded)


def latency_ms(hist: HdrHistogram) -> dict[str, float]:
    """p50 … p99_9 and max in milliseconds; NaN for an empty histogram."""
    by_p = latency.percentiles(hist, tuple(PERCENTILES.values()))
    out = {name: by_p[float(p)] for name, p in PERCENTILES.items()}
    out["max"] = hist.get_max_value() / 1000.0 if hist.get_total_count() else math.nan
    return out


# --------------------------------------------------------------------------- loading


# --------------------------------------------------------------------------- resources


def _rep_samples(run: Run, rep: Repetition, role: str) -> pd.DataFrame:
    """Samples of one repetition and role, with ``second`` = seconds since measure_start.

    Alignment, best first: the ``wall`` column (epoch seconds, same clock as measure_start);
    a ``t_s`` that is itself epoch seconds; else ``t_s`` is taken as seconds since the sampler
    started, assumed to be the start of the warm-up (approximate, to about a second).
    """
    if run.samples is None:
        return pd.DataFrame(columns=[*SAMPLE_COLUMNS, "second"])
    s = run.samples
    df = s[
        (s["variant"] == rep.variant) & (s["repetition"] == rep.repetition) & (s["role"] == role)
    ]
    df = df.sort_values("t_s").copy()
    if df.empty:
        df["second"] = pd.Series(dtype=float)
        return df
    if df["wall"].notna().all():
        df["second"] = df["wall"] - rep.measure_start
    elif float(df["t_s"].median()) > _EPOCH_THRESHOLD:
        df["second"] = df["t_s"] - rep.measure_start
    else:
        warmup = run.config.warmup_s
        df["second"] = df["t_s"] - (float(warmup) if warmup is not None else 0.0)
    return df


def _cpu_rate(df: pd.DataFrame, duration: float) -> float:
    """Mean CPU cores in use over [0, duration] (the measured window); NaN if not covered.

    Uses the cumulative ``cpu_seconds`` when it never decreases (a steady process tree), else
    integrates ``cpu_percent``.
    """
    df = df.dropna(subset=["second"])
    if len(df) < 2 or duration <= 0:
        return math.nan
    t = df["second"].to_numpy(dtype=float)
    lo, hi = max(0.0, t.min()), min(duration, t.max())
    if hi - lo < max(0.5, 0.25 * duration):
        return math.nan
    cum = df["cpu_seconds"].to_numpy(dtype=float)
    if np.all(np.isfinite(cum)) and np.all(np.diff(cum) >= -1e-6):
        used = float(np.interp(hi, t, cum) - np.interp(lo, t, cum))
        return used / (hi - lo)
    pct = df["cpu_percent"].to_numpy(dtype=float)
    if not np.any(np.isfinite(pct)):
        return math.nan
    grid = np.linspace(lo, hi, 200)
    ok = np.isfinite(pct)
    return float(np.mean(np.interp(grid, t[ok], pct[ok]))) / 100.0


def _in_window(df: pd.DataFrame, duration: float) -> pd.DataFrame:
    return df[(df["second"] >= 0) & (df["second"] <= duration)]


def _loadgen_percent(run: Run, rep: Repetition) -> float:
    """Busy share of the load-generator CPU set in one repetition, % of the set: the figure the
    run judged it by (``meta.json`` ``evidence.loadgen_health``, the busiest stretch of the
    measured window; see ``chatbench.load.health.CpuSetBusy``), read back rather than
    recomputed so the summary can never disagree with the verdict. NaN when the run did not
    record it."""
    entry = run.record.evidence.loadgen_health.get(f"{rep.variant}#{rep.repetition}")
    busy = entry.cpu_set.busy_pct if entry is not None else None
    return float(busy) if busy is not None else math.nan


def resource_series(run: Run) -> pd.DataFrame:
    """Resource samples, one row per sample: variant, repetition, role, second (since
    measure_start), cpu_percent, rss_mb, processes. Empty when samples.csv is absent.

    Role ``loadgen_cpus`` is the load-generator CPU set as a whole: its cpu_percent is the busy
    share of the set (100 = all of its CPUs busy), not a process tree's share of one core."""
    cols = ["variant", "repetition", "role", "second", "cpu_percent", "rss_mb", "processes"]
    frames = []
    for rep in run.repetitions:
        for role in ("server", "loadgen", "loadgen_cpus", "postgres"):
            df = _rep_samples(run, rep, role)
            if df.empty:
                continue
            df = df.assign(rss_mb=df["rss_bytes"] / _MIB)
            frames.append(df[cols])
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- tidy tables


def _axis_columns(run: Run) -> dict[str, dict[str, Any]]:
    """variant → {column: value}; axis names colliding with core columns get an ``axis_`` prefix."""
    reserved = set(SUMMARY_COLUMNS) | {"repetition"}
    out = {}
    for v in run.variants:
        axes = run.variant_axes(v)
        out[v] = {(f"axis_{k}" if k in reserved else str(k)): val for k, val in axes.items()}
    return out


def _rep_rows(rep: Repetition) -> list[tuple[str, str, float]]:
    rows: list[tuple[str, str, float]] = []
    duration = rep.duration_s if rep.duration_s > 0 else math.nan

    def add(endpoint: str, count: int, failures: int, hist: HdrHistogram) -> None:
        good = count - failures
        rows.append((endpoint, "requests", float(count)))
        rows.append((endpoint, "failures", float(failures)))
        rows.append((endpoint, "error_rate", failures / count if count else math.nan))
        rows.append((endpoint, "rps", good / duration))
        rows.extend((endpoint, name, value) for name, value in latency_ms(hist).items())

    for e in rep.endpoints:
        add(e.endpoint, e.count, e.failures, decode_hdr(e.hdr))
    add(
        ALL,
        sum(e.count for e in rep.endpoints),
        sum(e.failures for e in rep.endpoints),
        merge_hdr(e.hdr for e in rep.endpoints),
    )
    return rows


def _resource_rows(run: Run, rep: Repetition) -> list[tuple[str, str, float]]:
    server = _rep_samples(run, rep, "server")
    rows: list[tuple[str, str, float]] = []
    if not server.empty:
        rate = _cpu_rate(server, rep.duration_s)
        cpu_s = rate * rep.duration_s
        good = sum(e.count - e.failures for e in rep.endpoints)
        rows.append((ALL, "server_cpu_s", cpu_s))
        rows.append((ALL, "req_per_cpu_s", good / cpu_s if cpu_s > 0 else math.nan))
        win = _in_window(server, rep.duration_s)
        rss = (win if not win.empty else server)["rss_bytes"].max()
        rows.append((ALL, "peak_rss_mb", float(rss) / _MIB if pd.notna(rss) else math.nan))
    busy = _loadgen_percent(run, rep)
    if math.isfinite(busy):
        rows.append((ALL, "loadgen_busy_pct", busy))
    return rows


def repetition_metrics(run: Run) -> pd.DataFrame:
    """One row per variant × repetition × endpoint × metric.

    Columns: variant, repetition, scenario, endpoint, metric, value, overloaded (a rate-mode
    repetition that did not keep its rate, ``load.openloop``), + the variant's axis
    columns. Endpoint ``ALL`` merges every endpoint (histograms merged, counts summed) and
    also carries the per-repetition resource metrics. Units: rps in successful requests/s,
    latencies in ms, error_rate a fraction, peak_rss_mb in MiB, loadgen_busy_pct the busy % of
    the load-generator CPU set over the busiest stretch of the window (the judged figure).
    """
    axes = _axis_columns(run)
    records: list[dict[str, Any]] = []
    for rep in run.repetitions:
        for endpoint, metric, value in _rep_rows(rep) + _resource_rows(run, rep):
            records.append(
                {
                    "variant": rep.variant,
                    "repetition": rep.repetition,
                    "scenario": run.variant_scenario(rep.variant),
                    "endpoint": endpoint,
                    "metric": metric,
                    "value": float(value),
                    "overloaded": rep.overloaded,
                    **axes.get(rep.variant, {}),
                }
            )
    df = pd.DataFrame.from_records(records)
    return _ordered(df, run.variants, ["repetition"])


def _ordered(df: pd.DataFrame, variants: Sequence[str], extra: list[str]) -> pd.DataFrame:
    if df.empty:
        return df
    vkey = {v: i for i, v in enumerate(variants)}
    mkey = {m: i for i, m in enumerate(METRICS)}
    keys = pd.DataFrame(
        {
            "_v": df["variant"].map(lambda v: vkey.get(v, len(vkey))),
            "_e": df["endpoint"].map(lambda e: sort_key(e)[0]),
            "_el": df["endpoint"],
            "_m": df["metric"].map(lambda m: mkey.get(m, len(mkey))),
        }
    )
    order_cols = ["_v", *extra, "_e", "_el", "_m"]
    merged = pd.concat([df, keys], axis=1).sort_values(order_cols, kind="stable")
    return merged.drop(columns=list(keys.columns)).reset_index(drop=True)


def _users_at(rep: Repetition) -> dict[int, int]:
    if not rep.users_series:
        return {}
    secs = np.array([s for s, _ in rep.users_series])
    users = np.array([u for _, u in rep.users_series])
    last = max(s.second for s in rep.series) if rep.series else int(secs.max())
    out = {}
    for sec in range(0, last + 1):
        i = np.searchsorted(secs, sec, side="right") - 1
        if i >= 0:
            out[sec] = int(users[i])
    return out


def time_series(run: Run) -> pd.DataFrame:
    """Per-second figures: variant, repetition, second, endpoint (incl. ALL), count, failures,
    rps (successful requests in that second), p50, p95, p99 (ms), users (NaN without
    users_series).

    A trailing partial second (measured window not a whole number of seconds) is dropped: its
    rate would read as a spurious dip.
    """
    records: list[dict[str, Any]] = []
    for rep in run.repetitions:
        users = _users_at(rep)
        by_second: dict[int, list[latency.SeriesRow]] = {}
        for s in rep.series:
            if rep.duration_s > 0 and s.second + 1 > rep.duration_s + 0.05:
                continue
            by_second.setdefault(s.second, []).append(s)
        for sec in sorted(by_second):
            entries = by_second[sec]
            groups = [(s.endpoint, [s]) for s in entries] + [(ALL, entries)]
            for endpoint, group in groups:
                hist = (
                    merge_hdr(s.hdr for s in group) if len(group) > 1 else decode_hdr(group[0].hdr)
                )
                lat = latency_ms(hist)
                count = sum(s.count for s in group)
                failures = sum(s.failures for s in group)
                records.append(
                    {
                        "variant": rep.variant,
                        "repetition": rep.repetition,
                        "second": sec,
                        "endpoint": endpoint,
                        "count": count,
                        "failures": failures,
                        "rps": float(count - failures),
                        "p50": lat["p50"],
                        "p95": lat["p95"],
                        "p99": lat["p99"],
                        "users": float(users[sec]) if sec in users else math.nan,
                    }
                )
    cols = [
        "variant",
        "repetition",
        "second",
        "endpoint",
        "count",
        "failures",
        "rps",
        "p50",
        "p95",
        "p99",
        "users",
    ]
    if not records:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame.from_records(records, columns=cols)
    vkey = {v: i for i, v in enumerate(run.variants)}
    df["_v"] = df["variant"].map(vkey)
    df["_e"] = df["endpoint"].map(lambda e: sort_key(e)[0])
    df = df.sort_values(["_v", "repetition", "second", "_e", "endpoint"], kind="stable")
    return df.drop(columns=["_v", "_e"]).reset_index(drop=True)


def ramp_steps(run: Run, *, settle_s: int = 1) -> pd.DataFrame:
    """Ramp runs: one row per variant × repetition × users step (endpoint ALL): users, rps
    (mean successful requests/s over the step), p50, p95 (ms, from the step's merged
    histogram), seconds. The first ``settle_s`` seconds of each step (while users spawn) are
    dropped when the step is long enough. Empty when there is no users_series."""
    cols = ["variant", "repetition", "users", "rps", "p50", "p95", "seconds"]
    records = []
    for rep in run.repetitions:
        users = _users_at(rep)
        if not users:
            continue
        per_step: dict[int, list[int]] = {}
        for sec in sorted(users):
            per_step.setdefault(users[sec], []).append(sec)
        entries_by_sec: dict[int, list[latency.SeriesRow]] = {}
        for s in rep.series:
            if rep.duration_s > 0 and s.second + 1 > rep.duration_s + 0.05:
                continue
            entries_by_sec.setdefault(s.second, []).append(s)
        for n_users, secs in sorted(per_step.items()):
            secs = [s for s in secs if s in entries_by_sec]
            if len(secs) > settle_s + 1:
                secs = secs[settle_s:]
            if not secs or n_users <= 0:
                continue
            entries = [e for s in secs for e in entries_by_sec[s]]
            lat = latency_ms(merge_hdr(e.hdr for e in entries))
            good = sum(e.count - e.failures for e in entries)
            records.append(
                {
                    "variant": rep.variant,
                    "repetition": rep.repetition,
                    "users": n_users,
                    "rps": good / len(secs),
                    "p50": lat["p50"],
                    "p95": lat["p95"],
                    "seconds": len(secs),
                }
            )
    return pd.DataFrame.from_records(records, columns=cols)


def without_invalid(run: Run) -> tuple[Run, list[str]]:
    """``run`` without the repetitions its ``meta.json`` lists in ``invalid_repetitions``
    (e.g. a saturated load generator: those latencies measure Locust, not the service), the
    same ones ``chatbench check`` leaves out, and one note per excluded repetition."""
    bad = run.record.invalid
    if not bad:
        return run, []
    kept = tuple(r for r in run.repetitions if (r.variant, r.repetition) not in bad)
    notes = [
        f"{run.run_id}: {variant} repetition {rep} excluded ({reason}): its figures cannot be "
        "trusted."
        for (variant, rep), reason in sorted(bad.items())
        if any(r.variant == variant and r.repetition == rep for r in run.repetitions)
    ]
    left = {r.variant for r in kept}
    for variant in sorted({v for v, _ in bad} & set(run.variants) - left):
        notes.append(
            f"{run.run_id}: every repetition of {variant} was excluded as invalid, so it is "
            "not compared."
        )
    return replace(run, repetitions=kept), notes


def summarise(rep_metrics: pd.DataFrame) -> pd.DataFrame:
    """The figure over repetitions with its interval (``stats.interval``), per variant ×
    endpoint × metric.

    Columns: variant, scenario, endpoint, metric, value (the geometric mean over repetitions;
    the mean where a value is ≤ 0), ci_low, ci_high, n, cv (coefficient of variation over
    repetitions), interval (what ci_low/ci_high are: ``t95-log``/``t95`` a 95 % confidence
    interval, ``range`` the lowest and highest of 2 repetitions, ``none`` no bounds), then
    every other column of ``rep_metrics`` except repetition (the axis columns), copied
    through. NaN values (e.g. a percentile of an empty histogram) don't count towards n.
    """
    if rep_metrics.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    key_cols = ["variant", "scenario", "endpoint", "metric"]
    own = {*key_cols, "repetition", "value", "overloaded"}
    axis_cols = [c for c in rep_metrics.columns if c not in own]
    records = []
    for key, group in rep_metrics.groupby(key_cols, sort=False, dropna=False):
        values = group["value"].to_numpy(dtype=float)
        est = interval(values)
        row = dict(zip(key_cols, key, strict=True))
        row.update(
            value=est.value,
            ci_low=est.low,
            ci_high=est.high,
            n=est.n,
            cv=coefficient_of_variation(values),
            interval=est.method,
            overloaded=int(group["overloaded"].fillna(False).astype(bool).sum())
            if "overloaded" in group
            else 0,
        )
        for col in axis_cols:
            row[col] = group[col].iloc[0]
        records.append(row)
    df = pd.DataFrame.from_records(records, columns=[*SUMMARY_COLUMNS, *axis_cols])
    variants = list(dict.fromkeys(rep_metrics["variant"]))
    return _ordered(df, variants, [])


def summary_table(run: Run) -> pd.DataFrame:
    """``summarise(repetition_metrics(run))``."""
    return summarise(repetition_metrics(run))


def write_summary(run_dir: str | os.PathLike[str], run: Run | None = None) -> pd.DataFrame:
    """Write summary.csv and summary.json (atomically) into the run directory; return the table."""
    run = run or load_run(run_dir)
    table = summary_table(run)
    path = Path(run_dir)
    write_text_atomic(path / "summary.csv", table.to_csv(index=False, float_format="%.6g"))
    write_json_atomic(
        path / "summary.json",
        {
            "format_version": RUN_FORMAT_VERSION,
            "run_id": run.run_id,
            "scenario": run.scenario,
            "mode": run.mode,
            "columns": list(table.columns),
            "rows": table.to_dict(orient="records"),
        },
    )
    return table
