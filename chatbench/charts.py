"""Charts of a run: every figure with its spread, one PNG + one SVG per chart in ``charts/``.

Charts (file stem → what it shows):

* ``grid``                 suite runs only: throughput and p95 by setting (axis value), one
                           colour per framework, whiskers, a row of panels per scenario
* ``throughput``           successful requests/s per variant (all endpoints and per endpoint),
                           plus requests per server CPU-second; geometric mean with whiskers
* ``latency_percentiles``  p50 … p99.9 per endpoint per variant, geometric mean with whiskers
* ``throughput_over_time`` per-second throughput, each repetition thin, their median bold
* ``latency_over_time``    per-second p50 (solid) and p95 (dashed), median over repetitions
* ``latency_vs_throughput`` ramp runs only: p50/p95 against throughput per users step
* ``server_resources``     server (and load generator) CPU and server RSS over time
* ``ratio``                django*/fastapi* ratio of throughput and p95 per endpoint, whiskers

Whiskers follow ``stats``: a 95 % CI (``t95-log``; for ratios ``welch-t-log``) from 3
repetitions, the range of 2 repetitions with 2, none with 1, and each title says which
(``_bounds_label``), so a range is never drawn under the name of a confidence interval.

The registry is ``CHARTS`` (one ``ChartSpec`` per chart, in report order). Outside a run
directory: ``draw_compare_changes`` draws ``chatbench compare``'s chart of the changes.

A chart whose data is absent (no samples.csv, not a ramp run, not a suite run, no
django/fastapi pair) is
skipped with a logged reason. Figures are built on ``matplotlib.figure.Figure`` directly (Agg,
no pyplot global state). Each variant has one colour everywhere (``variant_colour``).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from chatbench.results import (  # noqa: E402
    ALL,
    Run,
    atomic_output,
    load_run,
    ramp_steps,
    repetition_metrics,
    resource_series,
    summarise,
    time_series,
)
from chatbench.stats import CI_METHODS, RANGE, Verdict, ratio_interval  # noqa: E402

if TYPE_CHECKING:
    from chatbench.compare import Comparison

log = logging.getLogger(__name__)

UNFAIR_NOTE = "fairness violations allowed by --allow-unfair"
_FIXED_COLOURS = {
    "django": "#0b7a53",
    "django-async": "#72c25e",
    "fastapi": "#1f5fbf",
    "fastapi-sync": "#e08a00",
    "fastapi-seed": "#c8102e",
}
_EXTRA_COLOURS = (
    "#7b3fa0",
    "#8c564b",
    "#d9569e",
    "#12a4b5",
    "#a3a317",
    "#4d4d4d",
    "#2f3f8f",
    "#b5651d",
)
_PERCENTILE_LABELS = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p99_9": "p99.9"}
_DPI = 110
matplotlib.rcParams["svg.hashsalt"] = "chatbench"  # stable SVG ids: identical data, identical file


class ChartSkipped(Exception):
    """The data a chart needs is not in this run; the message says what is missing."""


def variant_colour(name: str) -> str:
    """The variant's colour in every chart: fixed for the known variants, else a stable hash."""
    if name in _FIXED_COLOURS:
        return _FIXED_COLOURS[name]
    return _EXTRA_COLOURS[zlib.crc32(name.encode("utf-8")) % len(_EXTRA_COLOURS)]


def endpoint_short(label: str) -> str:
    """``GET /api/chat/messages/{id}`` → ``GET /messages/{id}``; ``ALL`` → ``all endpoints``."""
    return "all endpoints" if label == ALL else label.replace("/api/chat", "")


class _Data:
    """What the charts of one run draw from, each table computed once on first use."""

    def __init__(self, run: Run) -> None:
        self.run = run

    @functools.cached_property
    def reps(self) -> pd.DataFrame:
        return repetition_metrics(self.run)

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        return summarise(self.reps)

    @functools.cached_property
    def series(self) -> pd.DataFrame:
        return time_series(self.run)

    @functools.cached_property
    def resources(self) -> pd.DataFrame:
        return resource_series(self.run)

    def row(
        self, variant: str, endpoint: str, metric: str
    ) -> tuple[float, float, float, int] | None:
        s = self.summary
        hit = s[(s["variant"] == variant) & (s["endpoint"] == endpoint) & (s["metric"] == metric)]
        if hit.empty or not math.isfinite(float(hit["value"].iloc[0])):
            return None
        r = hit.iloc[0]
        return float(r["value"]), float(r["ci_low"]), float(r["ci_high"]), int(r["n"])

    def values(self, variant: str, endpoint: str, metric: str) -> np.ndarray:
        r = self.reps
        hit = r[(r["variant"] == variant) & (r["endpoint"] == endpoint) & (r["metric"] == metric)]
        return hit["value"].to_numpy(dtype=float)


# --------------------------------------------------------------------------- helpers


def _figure(width: float = 11.0, height: float = 5.5) -> Figure:
    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _finish(fig: Figure, run: Run, title: str) -> None:
    fig.suptitle(title, fontsize=13, fontweight="bold")
    n_reps = max((r.repetition for r in run.repetitions), default=0)
    footer = (
        f"run {run.run_id} · scenario {run.scenario} · mode {run.mode} · {n_reps} repetition(s)"
    )
    fig.text(0.995, 0.002, footer, ha="right", va="bottom", fontsize=7.5, color="#666666")
    if run.fairness_overridden():
        fig.text(
            0.005,
            0.002,
            UNFAIR_NOTE,
            ha="left",
            va="bottom",
            fontsize=9,
            color="red",
            fontweight="bold",
        )
    # Room at the bottom for the footer line(s).
    fig.get_layout_engine().set(rect=(0, 0.03, 1, 0.97))


def _yerr(rows: Sequence[tuple[float, float, float, int] | None]) -> np.ndarray:
    lo = [max(0.0, r[0] - r[1]) if r else 0.0 for r in rows]
    hi = [max(0.0, r[2] - r[0]) if r else 0.0 for r in rows]
    return np.nan_to_num(np.array([lo, hi]))


def _use_log(values: Sequence[float] | np.ndarray) -> bool:
    """Log scale when positive values span more than one decade."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr) & (arr > 0)]
    return arr.size > 1 and arr.max() / arr.min() > 10.0


def _set_latency_scale(ax: Axes, values: Sequence[float] | np.ndarray) -> None:
    """Log y (with plain-number ticks, not 4×10¹) when the values span a decade, else from 0."""
    if _use_log(values):
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _pos: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.tick_params(axis="y", which="minor", labelsize=7)
    else:
        ax.set_ylim(bottom=0)


def _save(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """PNG + SVG, each through a temporary file and os.replace (never half-written)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt, metadata in (("png", {"Software": None}), ("svg", {"Date": None})):
        target = out_dir / f"{name}.{fmt}"
        with atomic_output(target) as fh:
            fig.savefig(fh, format=fmt, metadata=metadata)
        written.append(target)
    return written


def _legend(ax: Axes, **kwargs: object) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8.5, frameon=False, **kwargs)  # type: ignore[arg-type]


def _legend_outside(fig: Figure, ax: Axes) -> None:
    """Legend right of the plots, where it cannot hide a line."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=8.5, frameon=False)


def _n_label(data: _Data) -> str:
    ns = sorted({int(n) for n in data.summary["n"].dropna()} - {0})
    if not ns:
        return "no repetitions"
    return f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]}"


def _whiskers(methods: set[str]) -> str:
    """What the whiskers of rows with these ``stats`` methods are."""
    has_ci, has_range = bool(methods & CI_METHODS), RANGE in methods
    if has_ci and has_range:
        return "whiskers: 95 % CI from 3 repetitions, range of 2 with 2"
    if has_ci:
        return "whiskers: 95 % CI"
    if has_range:
        return "whiskers: range of 2, not a CI"
    return "no whiskers (one repetition)"


def _bounds_label(data: _Data) -> str:
    """The title's account of the whiskers and n, from the summary's ``interval`` column."""
    return f"{_whiskers(set(data.summary['interval'].dropna()))}; {_n_label(data)}"


# --------------------------------------------------------------------------- charts


def _chart_throughput(data: _Data) -> Figure:
    run = data.run
    variants = run.variants
    endpoints = run.endpoints
    has_eff = any(data.row(v, ALL, "req_per_cpu_s") for v in variants)
    fig = _figure(12.5 if has_eff else 11.0, 5.2)
    ratios = [1.1, max(2.0, 0.8 * len(endpoints))] + ([1.1] if has_eff else [])
    axes = fig.subplots(1, len(ratios), width_ratios=ratios)
    ax_all, ax_ep = axes[0], axes[1]
    width = 0.8 / max(1, len(variants))

    rows = [data.row(v, ALL, "rps") for v in variants]
    x = np.arange(len(variants))
    colours = [variant_colour(v) for v in variants]
    ax_all.bar(x, [r[0] if r else 0 for r in rows], color=colours, yerr=_yerr(rows), capsize=5)
    for xi, r in zip(x, rows, strict=True):
        if r:
            ax_all.annotate(
                f"{r[0]:,.0f}",
                (xi, r[2] if math.isfinite(r[2]) else r[0]),
                textcoords="offset points",
                xytext=(0, 4),
                ha="center",
                fontsize=8.5,
            )
    ax_all.set_xticks(x, variants)
    ax_all.set_title("All endpoints", fontsize=10)
    ax_all.set_ylabel("Throughput (successful requests/s)")

    xe = np.arange(len(endpoints))
    for i, v in enumerate(variants):
        rows_e = [data.row(v, e, "rps") for e in endpoints]
        ax_ep.bar(
            xe + (i - (len(variants) - 1) / 2) * width,
            [r[0] if r else 0 for r in rows_e],
            width,
            color=variant_colour(v),
            yerr=_yerr(rows_e),
            capsize=3,
            label=v,
        )
    ax_ep.set_xticks(xe, [endpoint_short(e) for e in endpoints], fontsize=8.5)
    ax_ep.set_title("Per endpoint", fontsize=10)
    ax_ep.set_ylabel("Throughput (successful requests/s)")
    _legend(ax_ep, loc="upper right")

    if has_eff:
        ax_eff = axes[2]
        rows = [data.row(v, ALL, "req_per_cpu_s") for v in variants]
        ax_eff.bar(x, [r[0] if r else 0 for r in rows], color=colours, yerr=_yerr(rows), capsize=5)
        ax_eff.set_xticks(x, variants)
        ax_eff.set_title("Efficiency", fontsize=10)
        ax_eff.set_ylabel("Requests per server CPU-second")
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    _finish(fig, run, f"Throughput — geometric mean of repetitions ({_bounds_label(data)})")
    return fig


def _chart_latency_percentiles(data: _Data) -> Figure:
    run = data.run
    endpoints = [*run.endpoints, ALL]
    pcts = list(_PERCENTILE_LABELS)
    fig = _figure(max(11.0, 3.0 * len(endpoints)), 5.0)
    axes = fig.subplots(1, len(endpoints), sharey=True)
    axes = np.atleast_1d(axes)
    all_values: list[float] = []
    for ax, endpoint in zip(axes, endpoints, strict=True):
        for i, v in enumerate(run.variants):
            rows = [data.row(v, endpoint, p) for p in pcts]
            ys = np.array([r[0] if r else np.nan for r in rows])
            all_values += [r[1] for r in rows if r] + [r[2] for r in rows if r]
            offset = (i - (len(run.variants) - 1) / 2) * 0.08
            ax.errorbar(
                np.arange(len(pcts)) + offset,
                ys,
                yerr=_yerr(rows),
                color=variant_colour(v),
                marker="o",
                markersize=4,
                capsize=3,
                linewidth=1.5,
                label=v,
            )
        ax.set_xticks(range(len(pcts)), [_PERCENTILE_LABELS[p] for p in pcts])
        ax.set_title(endpoint_short(endpoint), fontsize=10)
        ax.set_xlabel("Percentile")
        ax.grid(alpha=0.3, which="both")
    _set_latency_scale(axes[0], all_values)
    axes[0].set_ylabel("Latency (ms)")
    _legend(axes[0], loc="upper left")
    _finish(
        fig, run, f"Latency percentiles (HDR histograms) — geometric mean ({_bounds_label(data)})"
    )
    return fig


def _series_all(data: _Data) -> pd.DataFrame:
    ts = data.series
    if ts.empty:
        raise ChartSkipped("requests.json has no per-second series")
    return ts[ts["endpoint"] == ALL]


def _chart_throughput_over_time(data: _Data) -> Figure:
    ts = _series_all(data)
    fig = _figure(11.0, 5.0)
    ax = fig.subplots()
    for v in data.run.variants:
        vs = ts[ts["variant"] == v]
        colour = variant_colour(v)
        for _, rep in vs.groupby("repetition"):
            ax.plot(rep["second"], rep["rps"], color=colour, alpha=0.3, linewidth=0.9)
        med = vs.groupby("second")["rps"].median()
        ax.plot(med.index, med.to_numpy(), color=colour, linewidth=2.2, label=f"{v} (median)")
    ax.set_xlabel("Time since start of measurement (s)")
    ax.set_ylabel("Throughput (successful requests/s)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend_outside(fig, ax)
    _finish(fig, data.run, "Throughput over time — all endpoints (thin: each repetition)")
    return fig


def _chart_latency_over_time(data: _Data) -> Figure:
    ts = _series_all(data)
    fig = _figure(11.0, 5.0)
    ax = fig.subplots()
    values: list[float] = []
    for v in data.run.variants:
        vs = ts[ts["variant"] == v]
        colour = variant_colour(v)
        med = vs.groupby("second")[["p50", "p95"]].median()
        values += list(med["p50"]) + list(med["p95"])
        ax.plot(med.index, med["p50"], color=colour, linewidth=2.0, label=f"{v} p50")
        ax.plot(
            med.index, med["p95"], color=colour, linewidth=1.6, linestyle="--", label=f"{v} p95"
        )
    _set_latency_scale(ax, values)
    ax.set_xlabel("Time since start of measurement (s)")
    ax.set_ylabel("Latency (ms)")
    ax.grid(alpha=0.3, which="both")
    _legend_outside(fig, ax)
    _finish(fig, data.run, "Latency over time — all endpoints, median over repetitions per second")
    return fig


def _chart_latency_vs_throughput(data: _Data) -> Figure:
    run = data.run
    if run.mode != "ramp":
        raise ChartSkipped(f"mode is {run.mode!r}, not 'ramp'")
    steps = ramp_steps(run)
    if steps.empty:
        raise ChartSkipped("ramp run without users_series: no users steps to group by")
    fig = _figure(11.0, 5.5)
    ax = fig.subplots()
    values: list[float] = []
    for v in run.variants:
        vs = steps[steps["variant"] == v]
        if vs.empty:
            continue
        med = vs.groupby("users")[["rps", "p50", "p95"]].median().sort_index()
        colour = variant_colour(v)
        values += list(med["p50"]) + list(med["p95"])
        ax.plot(med["rps"], med["p95"], color=colour, marker="o", linewidth=2.0, label=f"{v} p95")
        ax.plot(
            med["rps"],
            med["p50"],
            color=colour,
            marker=".",
            linestyle="--",
            linewidth=1.4,
            label=f"{v} p50",
        )
        for users, r in med.iterrows():
            ax.annotate(
                f"{int(users)}u",
                (r["rps"], r["p95"]),
                textcoords="offset points",
                xytext=(3, 4),
                fontsize=7.5,
                color=colour,
            )
    _set_latency_scale(ax, values)
    ax.set_xlabel("Throughput (successful requests/s), mean over the step")
    ax.set_ylabel("Latency (ms)")
    ax.grid(alpha=0.3, which="both")
    _legend_outside(fig, ax)
    _finish(fig, run, "Latency vs throughput per users step (labels: users) — where the knee is")
    return fig


def _chart_server_resources(data: _Data) -> Figure:
    res = data.resources
    if res.empty:
        raise ChartSkipped("no samples.csv (or no rows for this run's repetitions)")
    server = res[res["role"] == "server"]
    if server.empty:
        raise ChartSkipped("samples.csv has no role=server rows")
    loadgen = res[res["role"] == "loadgen"]
    fig = _figure(12.0, 5.0)
    ax_cpu, ax_rss = fig.subplots(1, 2)
    for v in data.run.variants:
        colour = variant_colour(v)
        first = True
        for _, rep in server[server["variant"] == v].groupby("repetition"):
            ax_cpu.plot(rep["second"], rep["cpu_percent"], color=colour, linewidth=1.2, alpha=0.8,
                        label=f"{v} server" if first else None)  # fmt: skip
            ax_rss.plot(rep["second"], rep["rss_mb"], color=colour, linewidth=1.2, alpha=0.8)
            first = False
        first = True
        for _, rep in loadgen[loadgen["variant"] == v].groupby("repetition"):
            ax_cpu.plot(rep["second"], rep["cpu_percent"], color=colour, linewidth=1.0, linestyle=":",
                        label=f"{v} load generator" if first else None)  # fmt: skip
            first = False
    for ax in (ax_cpu, ax_rss):
        ax.axvline(0, color="#888888", linewidth=0.8)
        ax.set_xlabel("Time since start of measurement (s); before 0: warm-up")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    ax_cpu.set_ylabel("CPU (% of one core, whole process tree)")
    ax_cpu.set_title("CPU", fontsize=10)
    ax_rss.set_ylabel("Resident memory (MiB, whole process tree)")
    ax_rss.set_title("Server RSS", fontsize=10)
    _legend_outside(fig, ax_cpu)
    _finish(fig, data.run, "Server resources over time (each repetition one line)")
    return fig


def ratio_pairs(variants: Sequence[str]) -> list[tuple[str, str]]:
    """django*/fastapi* pairs to compare: same suffix (django-x ↔ fastapi-x) first, else the
    first of each family."""
    django = [v for v in variants if v.startswith("django")]
    fastapi = [v for v in variants if v.startswith("fastapi")]
    pairs = []
    for d in django:
        twin = "fastapi" + d.removeprefix("django")
        if twin in fastapi:
            pairs.append((d, twin))
    if not pairs and django and fastapi:
        pairs.append((django[0], fastapi[0]))
    return pairs


def _chart_ratio(data: _Data) -> Figure:
    run = data.run
    pairs = ratio_pairs(run.variants)
    if not pairs:
        raise ChartSkipped("needs both a django* and a fastapi* variant")
    endpoints = [*run.endpoints, ALL]
    fig = _figure(12.0, max(4.0, 0.55 * len(endpoints) * len(pairs) + 2.0))
    axes = fig.subplots(1, 2, sharey=True)
    metrics = (("rps", "Throughput ratio (> 1: django* serves more)"),
               ("p95", "p95 latency ratio (> 1: django* slower)"))  # fmt: skip
    y = np.arange(len(endpoints))
    methods: set[str] = set()
    for ax, (metric, title) in zip(axes, metrics, strict=True):
        lows, highs = [], []
        for j, (d, f) in enumerate(pairs):
            est = [
                ratio_interval(data.values(d, e, metric), data.values(f, e, metric))[0]
                for e in endpoints
            ]
            methods |= {e.method for e in est}
            vals = np.array([e.value for e in est])
            err = np.nan_to_num(
                np.array(
                    [
                        [max(0, e.value - e.low) for e in est],
                        [max(0, e.high - e.value) for e in est],
                    ]
                )
            )
            lows += [e.low for e in est]
            highs += [e.high for e in est]
            offset = (j - (len(pairs) - 1) / 2) * 0.25
            colour = variant_colour(d) if len(pairs) > 1 else "#333333"
            ax.errorbar(vals, y + offset, xerr=err, fmt="o", color=colour, capsize=4,
                        label=f"{d} / {f}")  # fmt: skip
            for yi, e in zip(y + offset, est, strict=True):
                if math.isfinite(e.value):
                    ax.annotate(f"{e.value:.2f}", (e.value, yi), textcoords="offset points",
                                xytext=(0, 8), ha="center", fontsize=8)  # fmt: skip
        ax.axvline(1.0, color="#999999", linestyle="--", linewidth=1)
        finite = [x for x in lows + highs + [1.0] if math.isfinite(x)]
        span = max(finite) - min(finite)
        ax.set_xlim(min(finite) - 0.15 * span - 0.02, max(finite) + 0.15 * span + 0.02)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes:  # after both panels: the label names every kind of whisker drawn
        ax.set_xlabel(f"Ratio of geometric means; {_whiskers(methods)}")
    axes[0].set_yticks(y, [endpoint_short(e) for e in endpoints])
    axes[0].invert_yaxis()
    if len(pairs) > 1:
        _legend_outside(fig, axes[0])
    names = ", ".join(f"{d} / {f}" for d, f in pairs)
    _finish(fig, run, f"Ratio {names} — 1.0 means equal")
    return fig


def _chart_db_time(data: _Data) -> Figure:
    """Median latency per variant × endpoint split into Postgres execution time and the rest.

    DB time per request comes from pg_stat_statements over the load (statements attributed to
    endpoints by ``sqlwork.attribute``), else from the per-endpoint profile before load.
    """
    from chatbench.sqlwork import table

    rows = table(dict(data.run.meta))
    db_ms: dict[tuple[str, str], float] = {}
    for source in ("profile", "load"):  # load figures win where both exist
        for r in rows:
            if r["source"] == source and r["endpoint"] != ALL:
                db_ms[(r["variant"], r["endpoint"])] = float(r["db_exec_ms_per_request"])
    bars = []
    for v in data.run.variants:
        for ep in data.run.endpoints:
            p50 = data.row(v, ep, "p50")
            if p50 is not None and (v, ep) in db_ms:
                db = min(db_ms[(v, ep)], p50[0])
                bars.append((v, ep, db, p50[0] - db))
    if not bars:
        raise ChartSkipped("no pg_stat_statements figures (evidence.sql*) or no latencies")
    fig = _figure(11.0, max(3.5, 0.45 * len(bars) + 1.8))
    ax = fig.subplots()
    y = np.arange(len(bars))
    colours = [variant_colour(v) for v, *_ in bars]
    ax.barh(y, [b[2] for b in bars], color=colours)
    ax.barh(y, [b[3] for b in bars], left=[b[2] for b in bars], color=colours, alpha=0.35,
            hatch="//", edgecolor="white")  # fmt: skip
    for yi, (_, _, db, rest) in zip(y, bars, strict=True):
        share = 100.0 * db / (db + rest) if db + rest > 0 else 0.0
        ax.annotate(f"{db:.2f} ms DB ({share:.0f} %) of {db + rest:.2f} ms", (db + rest, yi),
                    textcoords="offset points", xytext=(4, -3), fontsize=8)  # fmt: skip
    ax.set_yticks(y, [f"{v} · {endpoint_short(ep)}" for v, ep, *_ in bars])
    ax.invert_yaxis()
    ax.set_xlabel("Milliseconds per request (median latency under load)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlim(0, max(b[2] + b[3] for b in bars) * 1.35)
    from matplotlib.patches import Patch

    key = [
        Patch(color="#555555", label="DB execution (pg_stat_statements)"),
        Patch(facecolor="#555555", alpha=0.35, hatch="//", edgecolor="white",
              label="the rest: framework, serialisation, driver, network"),
    ]  # fmt: skip
    ax.legend(handles=key, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, fontsize=8.5,
              frameon=False)  # fmt: skip
    _finish(fig, data.run, "Where the time goes — database execution vs the rest, per request")
    return fig


GRID_CHART = "grid"
# (summary metric, panel title, y label) of the grid chart, one column of panels each.
GRID_METRICS = (
    ("rps", "Throughput", "Successful requests/s"),
    ("p95", "p95 latency", "Latency (ms)"),
)
GRID_COLUMNS = (
    "scenario", "framework", "setting", "variant", "metric", "value", "ci_low", "ci_high", "n",
    "interval",
)  # fmt: skip


def grid_table(
    summary: pd.DataFrame,
    cells: Mapping[str, Any],
    metrics: Sequence[str] = tuple(m for m, _, _ in GRID_METRICS),
) -> pd.DataFrame:
    """What the grid chart draws, as a table: one row per scenario × framework × setting ×
    metric with the summary's value, bounds, n and interval method (endpoint ALL).

    ``cells`` maps each run label to its grid cell (``suites.grid_cells``: objects with
    ``scenario``, ``framework``, ``setting``), in drawing order. Values are copied from the
    summary rows as they are (a ramp's figures are over the whole ramp), so the picture
    and summary.csv cannot disagree.
    """
    s = summary[(summary["endpoint"] == ALL) & summary["metric"].isin(metrics)]
    index = {(r["variant"], r["metric"]): r for r in s.to_dict(orient="records")}
    records = []
    for label, cell in cells.items():
        for metric in metrics:
            row = index.get((label, metric))
            if row is None:
                continue
            records.append(
                {
                    "scenario": cell.scenario, "framework": cell.framework,
                    "setting": cell.setting, "variant": label, "metric": metric,
                    "value": float(row["value"]), "ci_low": float(row["ci_low"]),
                    "ci_high": float(row["ci_high"]), "n": int(row["n"]),
                    "interval": row["interval"],
                }
            )  # fmt: skip
    return pd.DataFrame.from_records(records, columns=list(GRID_COLUMNS))


def _chart_grid(data: _Data) -> Figure:
    run = data.run
    suite = run.meta.get("suite")
    if not isinstance(suite, Mapping):
        raise ChartSkipped("not a suite run (meta.json has no suite)")
    from chatbench.suites import grid_cells

    table = grid_table(data.summary, grid_cells(run))
    if table.empty:
        raise ChartSkipped("the summary has no throughput or p95 rows")
    scenarios = list(dict.fromkeys(table["scenario"]))
    n_settings = max(table.groupby("scenario")["setting"].nunique())
    fig = _figure(max(10.0, 2.0 + 2.0 * 1.1 * n_settings), 1.3 + 3.9 * len(scenarios))
    axes = np.atleast_2d(fig.subplots(len(scenarios), len(GRID_METRICS), squeeze=False))
    for row_axes, scenario in zip(axes, scenarios, strict=True):
        sub = table[table["scenario"] == scenario]
        settings = list(dict.fromkeys(sub["setting"]))
        for ax, (metric, title, ylabel) in zip(row_axes, GRID_METRICS, strict=True):
            _grid_panel(ax, sub[sub["metric"] == metric], settings)
            ax.set_title(f"{title} — {scenario} scenario", fontsize=10)
            ax.set_ylabel(ylabel)
    _legend_outside(fig, axes[0][0])
    name = suite.get("name") or "suite"
    ramp = " (ramp: over the whole ramp)" if run.mode == "ramp" else ""
    _finish(fig, run, f"{name}: by setting — geometric mean ({_bounds_label(data)}){ramp}")
    return fig


def _grid_panel(ax: Axes, rows: pd.DataFrame, settings: list[str]) -> None:
    """Bars per setting, one per framework that has it (side by side), with whiskers."""
    x = np.arange(len(settings))
    present = {s: list(dict.fromkeys(rows[rows["setting"] == s]["framework"])) for s in settings}
    width = 0.8 / max(1, max((len(f) for f in present.values()), default=1))
    labelled: set[str] = set()
    tops = [0.0]
    for xi, setting in zip(x, settings, strict=True):
        frameworks = present[setting]
        for j, framework in enumerate(frameworks):
            r = rows[(rows["setting"] == setting) & (rows["framework"] == framework)].iloc[0]
            if not math.isfinite(r["value"]):
                continue
            pos = xi + (j - (len(frameworks) - 1) / 2) * width
            est = (r["value"], r["ci_low"], r["ci_high"], r["n"])
            ax.bar(pos, r["value"], width * 0.95, color=variant_colour(framework),
                   yerr=_yerr([est]), capsize=4,
                   label=None if framework in labelled else framework)  # fmt: skip
            labelled.add(framework)
            top = r["ci_high"] if math.isfinite(r["ci_high"]) else r["value"]
            tops.append(top)
            ax.annotate(fmt_value(r["value"]), (pos, top), textcoords="offset points",
                        xytext=(0, 3), ha="center", fontsize=8)  # fmt: skip
    ax.set_xticks(x, settings, fontsize=8.5, rotation=20 if len(settings) > 4 else 0)
    ax.set_ylim(0, max(tops) * 1.15 or 1.0)  # room above the whiskers for the labels
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def fmt_value(v: float) -> str:
    """Bar labels: 1,302 / 88.4 / 9.16."""
    return f"{v:,.0f}" if abs(v) >= 100 else (f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}")


@dataclass(frozen=True)
class ChartSpec:
    """One chart of a run: file stem, drawing function, and the report's title and caption.

    Adding a chart = one ``_chart_*`` function taking ``_Data`` and returning a Figure (raise
    ``ChartSkipped`` when its data is absent) + one entry in ``CHARTS``.
    """

    name: str
    draw: Callable[[_Data], Figure]
    title: str
    caption: str


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        GRID_CHART,
        _chart_grid,
        "The suite's grid: each setting per framework",
        "Throughput and p95 latency (all endpoints) for every setting of the suite, one colour "
        "per framework, one row per scenario; bars are geometric means over repetitions, the "
        "same figures as summary.csv, with whiskers as the title says: a 95 % CI (t interval "
        "on the log values) from 3 repetitions, the range with 2, none with 1. A ramp's "
        "figures cover the whole ramp.",
    ),
    ChartSpec(
        "throughput",
        _chart_throughput,
        "Throughput",
        "Successful requests per second, geometric mean over repetitions; whiskers as the "
        "title says: a 95 % CI (t interval on the log values) from 3 repetitions, the range "
        "with 2, none with 1. Right: requests served per CPU-second of the service.",
    ),
    ChartSpec(
        "latency_percentiles",
        _chart_latency_percentiles,
        "Latency percentiles",
        "From HDR histograms of every response (µs resolution), per endpoint. A log scale is "
        "used when the values span more than a decade.",
    ),
    ChartSpec(
        "throughput_over_time",
        _chart_throughput_over_time,
        "Throughput over time",
        "Each thin line is one repetition; the bold line is their median. Look for a warm-up "
        "ramp, drift or stalls.",
    ),
    ChartSpec(
        "latency_over_time",
        _chart_latency_over_time,
        "Latency over time",
        "p50 (solid) and p95 (dashed) per second, median over repetitions.",
    ),
    ChartSpec(
        "latency_vs_throughput",
        _chart_latency_vs_throughput,
        "Latency vs throughput",
        "One point per users step of the ramp. Where latency climbs steeply while throughput "
        "stops growing is the saturation knee.",
    ),
    ChartSpec(
        "server_resources",
        _chart_server_resources,
        "Server resources",
        "CPU and resident memory of the service's whole process tree (dotted: load generator "
        "CPU). Time 0 is the start of the measured window.",
    ),
    ChartSpec(
        "ratio",
        _chart_ratio,
        "Django / FastAPI ratio",
        "Ratio of geometric means over repetitions. From 3 repetitions a side the whisker is "
        "the 95 % CI of Welch's t-test on the log values, and one that does not cross 1.0 is a "
        "difference the data supports; with 2 it is the range of the ratios, which supports "
        "no such claim.",
    ),
    ChartSpec(
        "db_time",
        _chart_db_time,
        "Where the time goes: database vs the rest",
        "Per request: Postgres execution time from pg_stat_statements (solid) and the rest of "
        "the median latency (hatched: framework, serialisation, driver, network, queueing).",
    ),
)
CHART_NAMES = tuple(spec.name for spec in CHARTS)
_CHARTS: dict[str, Callable[[_Data], Figure]] = {spec.name: spec.draw for spec in CHARTS}


def draw_chart(run: Run, name: str, out_dir: Path | None = None) -> list[Path]:
    """Draw one chart by name; raises ``ChartSkipped`` when its data is absent."""
    fig = _CHARTS[name](_Data(run))
    return _save(fig, out_dir or run.path / "charts", name)


def draw_all(run_dir: str | os.PathLike[str], run: Run | None = None) -> list[Path]:
    """Draw every chart that has data into ``run_dir/charts``; return the files written.

    A skipped chart is logged with its reason; so is a chart that fails to draw (the run's
    data matters more than one picture) — its stale files, if any, are removed.
    """
    run = run or load_run(run_dir)
    out_dir = Path(run_dir) / "charts"
    data = _Data(run)
    written: list[Path] = []
    for name, build in _CHARTS.items():
        try:
            fig = build(data)
        except ChartSkipped as exc:
            log.info("chart %s skipped: %s", name, exc)
            _remove_stale(out_dir, name)
            continue
        except Exception:
            log.exception("chart %s failed to draw", name)
            _remove_stale(out_dir, name)
            continue
        written += _save(fig, out_dir, name)
    return written


def _remove_stale(out_dir: Path, name: str) -> None:
    for fmt in ("png", "svg"):
        (out_dir / f"{name}.{fmt}").unlink(missing_ok=True)


# --------------------------------------------------------------------------- compare


_VERDICT_COLOURS = {
    Verdict.SLOWER: "#c8102e",
    Verdict.FASTER: "#0b7a53",
    Verdict.NO_CHANGE: "#8a8a8a",
    Verdict.NOT_JUDGED: "#b8b8b8",
}
_COMPARE_METRICS = ("rps", "p50", "p95", "p99")
_COMPARE_TITLES = {
    "rps": "Throughput",
    "p50": "p50 latency",
    "p95": "p95 latency",
    "p99": "p99 latency",
    "req_per_cpu_s": "Requests per CPU-second",
}


def draw_compare_changes(
    result: Comparison, out_dir: Path, name: str, metrics: Sequence[str] | None = None
) -> list[Path]:
    """One panel per metric: each variant × endpoint's change (%) with its whisker (95 % CI
    from 3 repetitions a side, the range with 2), coloured by verdict (red slower, green
    faster, grey no significant change, light grey not judged); the shaded band is the
    practical threshold. Y labels carry the variant's colour."""
    metrics = [
        m for m in (metrics or _COMPARE_METRICS) if any(c.metric == m for c in result.changes)
    ]
    if not metrics:
        raise ChartSkipped("the comparison has no rows")
    rows = list(dict.fromkeys((c.variant, c.endpoint) for c in result.changes))
    by_key = {(c.variant, c.endpoint, c.metric): c for c in result.changes}
    fig = _figure(max(10.0, 3.2 * len(metrics)), max(3.5, 0.42 * len(rows) + 2.2))
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
    y = np.arange(len(rows))
    for ax, metric in zip(axes, metrics, strict=True):
        ax.axvspan(-result.threshold * 100, result.threshold * 100, color="#eeeeee", zorder=0)
        ax.axvline(0, color="#999999", linewidth=1)
        for yi, (variant, endpoint) in zip(y, rows, strict=True):
            c = by_key.get((variant, endpoint, metric))
            if c is None or not math.isfinite(c.change):
                continue
            colour = _VERDICT_COLOURS[c.verdict]
            err = [[max(0.0, c.change - c.ci_low) * 100], [max(0.0, c.ci_high - c.change) * 100]]
            ax.errorbar([c.change * 100], [yi], xerr=err, fmt="o", color=colour, capsize=4,
                        markerfacecolor=colour if c.significant else "white")  # fmt: skip
            ax.annotate(f"{c.change * 100:+.1f} %", (c.change * 100, yi),
                        textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7.5,
                        color=colour)  # fmt: skip
        direction = "higher is better" if metric in ("rps", "req_per_cpu_s") else "lower is better"
        ax.set_title(f"{_COMPARE_TITLES.get(metric, metric)} ({direction})", fontsize=10)
        ax.set_xlabel("Change B vs A (%)")
        ax.margins(x=0.15)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [f"{v} · {endpoint_short(e)}" for v, e in rows], fontsize=8.5)
    for tick, (variant, _) in zip(axes[0].get_yticklabels(), rows, strict=True):
        tick.set_color(variant_colour(variant))
    axes[0].invert_yaxis()
    fig.suptitle(
        f"Change of B ({result.run_b}) vs A ({result.run_a}); "
        f"{_whiskers({c.interval for c in result.changes})}\nfilled: significant (Welch p < "
        f"0.05 and |change| ≥ {result.threshold * 100:.0f} %, the grey band); hollow: not, or "
        "not judged",
        fontsize=10.5,
        fontweight="bold",
    )
    return _save(fig, out_dir, name)
