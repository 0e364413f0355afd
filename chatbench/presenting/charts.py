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
* ``ratio``                each variant / its reference (``--reference``, else its twin of the first
                           variant's framework): throughput and p95 per endpoint, whiskers

Whiskers and colours follow ``chartkit``. The registry is ``CHARTS`` (one ``ChartSpec`` per
chart, in report order); the grid chart is ``grid_chart``'s, and ``compare_chart`` draws
``chatbench compare``'s chart of the changes. A chart whose data is absent (no samples.csv,
not a ramp run, not a suite run, no django/fastapi pair) is skipped with a logged reason.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from chatbench.analysing import timesplit
from chatbench.analysing.stats import ratio_interval
from chatbench.analysing.tables import ramp_steps
from chatbench.configuration.endpoints import ALL
from chatbench.configuration.endpoints import short as endpoint_short
from chatbench.presenting.chartkit import (
    ChartData,
    ChartSkipped,
    bounds_label,
    figure,
    finish,
    framework_of,
    legend,
    legend_outside,
    save,
    set_latency_scale,
    variant_ticks,
    whiskers,
    yerr,
)
from chatbench.presenting.grid_chart import GRID_CHART, chart_grid
from chatbench.presenting.openload_chart import (
    EQUAL_LOAD_CHART,
    SLO_CHART,
    chart_equal_load,
    chart_slo,
)
from chatbench.storing.rundir import Run, RunDirectoryError, load_run

log = logging.getLogger(__name__)

_PERCENTILE_LABELS = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p99_9": "p99.9"}


def _chart_throughput(data: ChartData) -> Figure:
    run = data.run
    variants = run.variants
    endpoints = run.endpoints
    has_eff = any(data.row(v, ALL, "req_per_cpu_s") for v in variants)
    fig = figure(12.5 if has_eff else 11.0, 5.2)
    ratios = [1.1, max(2.0, 0.8 * len(endpoints))] + ([1.1] if has_eff else [])
    axes = fig.subplots(1, len(ratios), width_ratios=ratios)
    ax_all, ax_ep = axes[0], axes[1]
    width = 0.8 / max(1, len(variants))

    rows = [data.row(v, ALL, "rps") for v in variants]
    x = np.arange(len(variants))
    colours = [data.colour(v) for v in variants]
    ax_all.bar(x, [r[0] if r else 0 for r in rows], color=colours, yerr=yerr(rows), capsize=5)
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
    variant_ticks(ax_all, x, variants)
    ax_all.set_title("All endpoints", fontsize=10)
    ax_all.set_ylabel("Throughput (successful requests/s)")

    xe = np.arange(len(endpoints))
    for i, v in enumerate(variants):
        rows_e = [data.row(v, e, "rps") for e in endpoints]
        ax_ep.bar(
            xe + (i - (len(variants) - 1) / 2) * width,
            [r[0] if r else 0 for r in rows_e],
            width,
            color=data.colour(v),
            yerr=yerr(rows_e),
            capsize=3,
            label=v,
        )
    ax_ep.set_xticks(xe, [endpoint_short(e) for e in endpoints], fontsize=8.5)
    ax_ep.set_title("Per endpoint", fontsize=10)
    ax_ep.set_ylabel("Throughput (successful requests/s)")
    if len(variants) > 3:  # a suite's bars fill the panel: the legend goes beside it
        legend_outside(fig, ax_ep)
    else:
        legend(ax_ep, loc="upper right")

    if has_eff:
        ax_eff = axes[2]
        rows = [data.row(v, ALL, "req_per_cpu_s") for v in variants]
        ax_eff.bar(x, [r[0] if r else 0 for r in rows], color=colours, yerr=yerr(rows), capsize=5)
        variant_ticks(ax_eff, x, variants)
        ax_eff.set_title("Efficiency", fontsize=10)
        ax_eff.set_ylabel("Requests per server CPU-second")
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    finish(fig, run, f"Throughput — geometric mean of repetitions ({bounds_label(data)})")
    return fig


def _chart_latency_percentiles(data: ChartData) -> Figure:
    run = data.run
    endpoints = [*run.endpoints, ALL]
    pcts = list(_PERCENTILE_LABELS)
    fig = figure(max(11.0, 3.0 * len(endpoints)), 5.0)
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
                yerr=yerr(rows),
                color=data.colour(v),
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
    set_latency_scale(axes[0], all_values)
    axes[0].set_ylabel("Latency (ms)")
    legend(axes[0], loc="upper left")
    finish(
        fig, run, f"Latency percentiles (HDR histograms) — geometric mean ({bounds_label(data)})"
    )
    return fig


def _series_all(data: ChartData) -> pd.DataFrame:
    ts = data.series
    if ts.empty:
        raise ChartSkipped("requests.json has no per-second series")
    return ts[ts["endpoint"] == ALL]


def _chart_throughput_over_time(data: ChartData) -> Figure:
    ts = _series_all(data)
    fig = figure(11.0, 5.0)
    ax = fig.subplots()
    for v in data.run.variants:
        vs = ts[ts["variant"] == v]
        colour = data.colour(v)
        for _, rep in vs.groupby("repetition"):
            ax.plot(rep["second"], rep["rps"], color=colour, alpha=0.3, linewidth=0.9)
        med = vs.groupby("second")["rps"].median()
        ax.plot(med.index, med.to_numpy(), color=colour, linewidth=2.2, label=f"{v} (median)")
    ax.set_xlabel("Time since start of measurement (s)")
    ax.set_ylabel("Throughput (successful requests/s)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    legend_outside(fig, ax)
    finish(fig, data.run, "Throughput over time — all endpoints (thin: each repetition)")
    return fig


def _chart_latency_over_time(data: ChartData) -> Figure:
    ts = _series_all(data)
    fig = figure(11.0, 5.0)
    ax = fig.subplots()
    values: list[float] = []
    for v in data.run.variants:
        vs = ts[ts["variant"] == v]
        colour = data.colour(v)
        med = vs.groupby("second")[["p50", "p95"]].median()
        values += list(med["p50"]) + list(med["p95"])
        ax.plot(med.index, med["p50"], color=colour, linewidth=2.0, label=f"{v} p50")
        ax.plot(
            med.index, med["p95"], color=colour, linewidth=1.6, linestyle="--", label=f"{v} p95"
        )
    set_latency_scale(ax, values)
    ax.set_xlabel("Time since start of measurement (s)")
    ax.set_ylabel("Latency (ms)")
    ax.grid(alpha=0.3, which="both")
    legend_outside(fig, ax)
    finish(fig, data.run, "Latency over time — all endpoints, median over repetitions per second")
    return fig


def _chart_latency_vs_throughput(data: ChartData) -> Figure:
    run = data.run
    if run.mode != "ramp":
        raise ChartSkipped(f"mode is {run.mode!r}, not 'ramp'")
    steps = ramp_steps(run)
    if steps.empty:
        raise ChartSkipped("ramp run without users_series: no users steps to group by")
    fig = figure(11.0, 5.5)
    ax = fig.subplots()
    values: list[float] = []
    for v in run.variants:
        vs = steps[steps["variant"] == v]
        if vs.empty:
            continue
        med = vs.groupby("users")[["rps", "p50", "p95"]].median().sort_index()
        colour = data.colour(v)
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
    set_latency_scale(ax, values)
    ax.set_xlabel("Throughput (successful requests/s), mean over the step")
    ax.set_ylabel("Latency (ms)")
    ax.grid(alpha=0.3, which="both")
    legend_outside(fig, ax)
    finish(fig, run, "Latency vs throughput per users step (labels: users) — where the knee is")
    return fig


def _chart_server_resources(data: ChartData) -> Figure:
    res = data.resources
    if res.empty:
        raise ChartSkipped("no samples.csv (or no rows for this run's repetitions)")
    server = res[res["role"] == "server"]
    if server.empty:
        raise ChartSkipped("samples.csv has no role=server rows")
    loadgen = res[res["role"] == "loadgen"]
    fig = figure(12.0, 5.0)
    ax_cpu, ax_rss = fig.subplots(1, 2)
    for v in data.run.variants:
        colour = data.colour(v)
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
    legend_outside(fig, ax_cpu)
    finish(fig, data.run, "Server resources over time (each repetition one line)")
    return fig


def ratio_pairs(
    variants: Sequence[str], framework: Callable[[str], str | None], reference: str | None = None
) -> list[tuple[str, str]]:
    """(variant, reference) pairs to draw, each as the ratio variant / reference.

    With a reference (``--reference``), every other variant against it. Otherwise the first
    variant's framework is the reference side, whatever its name: each variant of another
    framework against its twin there, the one with the same settings (``fastapi[pool=x]`` ↔
    ``django[pool=x]``, ``fastapi-x`` ↔ ``django-x``: the name past its recorded framework's),
    else the first variant of each other framework against the first variant."""
    if reference is not None:
        return [(v, reference) for v in variants if v != reference]
    if not variants:
        return []
    home = framework(variants[0])

    def settings(v: str) -> str:  # what follows the framework's name: "-async", "[pool=none]"
        base, bracket, rest = v.partition("[")
        return base.removeprefix(framework(v) or "") + bracket + rest

    twins = {settings(v): v for v in variants if framework(v) == home}
    others = [v for v in variants if framework(v) != home]
    pairs = [(v, twins[settings(v)]) for v in others if settings(v) in twins]
    if not pairs:
        first: dict[str | None, str] = {}
        for v in others:
            first.setdefault(framework(v), v)
        pairs = [(v, variants[0]) for v in first.values()]
    return pairs


def _chart_ratio(data: ChartData) -> Figure:
    run = data.run
    pairs = ratio_pairs(run.variants, lambda v: framework_of(run, v), run.config.reference)
    if not pairs:
        raise ChartSkipped("needs a second framework, or --reference and a second variant")
    endpoints = [*run.endpoints, ALL]
    fig = figure(12.0, max(4.0, 0.55 * len(endpoints) * len(pairs) + 2.0))
    axes = fig.subplots(1, 2, sharey=True)
    metrics = (("rps", "Throughput ratio (> 1: serves more than the reference)"),
               ("p95", "p95 latency ratio (> 1: slower than the reference)"))  # fmt: skip
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
            colour = data.colour(d) if len(pairs) > 1 else "#333333"
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
        ax.set_xlabel(f"Ratio of geometric means; {whiskers(methods)}")
    axes[0].set_yticks(y, [endpoint_short(e) for e in endpoints])
    axes[0].invert_yaxis()
    if len(pairs) > 1:
        legend_outside(fig, axes[0])
    names = ", ".join(f"{d} / {f}" for d, f in pairs)
    finish(fig, run, f"Ratio {names} — 1.0 means equal")
    return fig


def _chart_db_time(data: ChartData) -> Figure:
    """Per request: service CPU, database execution and waiting (``analysing.timesplit``), in
    the run's own load and, when the run measured it, at its lowest equal offered rate."""
    run = data.run
    panels = [(f"{run.mode} load" + (" — mostly queueing (Little's law)" if run.mode == "closed"
                                       else ""), timesplit.split(run, keep_invalid=True))]  # fmt: skip
    section = run.record.equal_load
    if section is not None and section.phases:
        lowest = min(section.phases, key=lambda p: float(p.rate))
        with contextlib.suppress(RunDirectoryError):
            panels.append((f"{float(lowest.rate):,.0f} req/s offered to each (below capacity)",
                           timesplit.split(load_run(run.path / lowest.directory), keep_invalid=True)))  # fmt: skip
    panels = [(t, [x for x in splits if math.isfinite(x.latency_ms)
                   and (math.isfinite(x.cpu_ms) or math.isfinite(x.db_ms))])
              for t, splits in panels]  # fmt: skip
    panels = [(t, splits) for t, splits in panels if splits]
    if not panels:
        raise ChartSkipped("no service CPU or pg_stat_statements figures, or no latencies")
    rows = max(len(splits) for _, splits in panels)
    fig = figure(11.0, max(3.5, 0.5 * rows * len(panels) + 2.2))
    axes = np.atleast_1d(fig.subplots(len(panels), 1))
    for ax, (title, splits) in zip(axes, panels, strict=True):
        y = np.arange(len(splits))
        colours = [data.colour(x.variant) for x in splits]
        cpu = [x.cpu_ms if math.isfinite(x.cpu_ms) else 0.0 for x in splits]
        db = [x.db_ms if math.isfinite(x.db_ms) else 0.0 for x in splits]
        wait = [x.waiting_ms for x in splits]
        ax.barh(y, cpu, color=colours)
        ax.barh(y, db, left=cpu, color=colours, alpha=0.65, hatch="..", edgecolor="white")
        left = [a + b for a, b in zip(cpu, db, strict=True)]
        ax.barh(y, wait, left=left, color=colours, alpha=0.25, hatch="//", edgecolor="white")
        for yi, x in zip(y, splits, strict=True):
            ax.annotate(
                f"CPU {x.cpu_ms:.2f} + DB {x.db_ms:.2f} + waiting {x.waiting_ms:.2f} ms "
                f"({100 * x.waiting_share:.0f} % waiting) = {x.latency_ms:.2f} ms mean",
                (x.latency_ms, yi), textcoords="offset points", xytext=(4, -3), fontsize=8,
            )  # fmt: skip
        ax.set_yticks(y, [x.variant for x in splits])
        ax.invert_yaxis()
        ax.set_xlim(0, max(x.latency_ms for x in splits) * 1.9)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel("Milliseconds per request (mean latency from the histograms)")
    key = [
        Patch(color="#555555", label="service CPU (CPU-seconds / requests)"),
        Patch(facecolor="#555555", alpha=0.65, hatch="..", edgecolor="white",
              label="database execution (pg_stat_statements)"),
        Patch(facecolor="#555555", alpha=0.25, hatch="//", edgecolor="white",
              label="waiting: latency minus both (queues, network, driver)"),
    ]  # fmt: skip
    axes[-1].legend(handles=key, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=3,
                    fontsize=8, frameon=False)  # fmt: skip
    finish(fig, run, "Where the time goes — service CPU, database and waiting, per request")
    return fig


@dataclass(frozen=True)
class ChartSpec:
    """One chart of a run: file stem, drawing function, and the report's title and caption.

    Adding a chart = one ``_chart_*`` function taking ``ChartData`` and returning a Figure (raise
    ``ChartSkipped`` when its data is absent) + one entry in ``CHARTS``.
    """

    name: str
    draw: Callable[[ChartData], Figure]
    title: str
    caption: str


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        GRID_CHART,
        chart_grid,
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
        EQUAL_LOAD_CHART,
        chart_equal_load,
        "Latency at equal offered load",
        "Every variant offered the same open-model rate (fractions of the slowest variant's "
        "capacity measured earlier in the run); latency counts from the intended send time. "
        'Bars: geometric mean over repetitions, whiskers as the title says. Hatched "≥": '
        "the variant did not keep the rate, its figures are lower bounds.",
    ),
    ChartSpec(
        SLO_CHART,
        chart_slo,
        "Capacity under the latency objective",
        "Each point is one short search window: the percentile against the rate offered "
        "(filled: within the objective and the rate kept; hollow: above it; ×: overloaded). "
        "The dashed line is the objective; a vertical line is a variant's found rate, the "
        "geometric mean of its searches, its band the 95 % CI.",
    ),
    ChartSpec(
        "db_time",
        _chart_db_time,
        "Where the time goes: service CPU, database, waiting",
        "Per request, geometric means over repetitions: the service's CPU time (its CPU-seconds "
        "/ requests), Postgres execution (pg_stat_statements) and waiting, the mean latency "
        "minus both. In a closed loop the latency is users / throughput, so it is mostly "
        "waiting; at an equal offered load below capacity (second panel) the split shows the "
        "work.",
    ),
)
CHART_NAMES = tuple(spec.name for spec in CHARTS)
_CHARTS: dict[str, Callable[[ChartData], Figure]] = {spec.name: spec.draw for spec in CHARTS}


def draw_chart(run: Run, name: str, out_dir: Path | None = None) -> list[Path]:
    """Draw one chart by name; raises ``ChartSkipped`` when its data is absent."""
    fig = _CHARTS[name](ChartData(run))
    return save(fig, out_dir or run.path / "charts", name)


def draw_all(run_dir: str | os.PathLike[str], run: Run | None = None) -> list[Path]:
    """Draw every chart that has data into ``run_dir/charts``; return the files written.

    A skipped chart is logged with its reason; so is a chart that fails to draw (the run's
    data matters more than one picture) — its stale files, if any, are removed.
    """
    run = run or load_run(run_dir)
    out_dir = Path(run_dir) / "charts"
    data = ChartData(run)
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
        written += save(fig, out_dir, name)
    return written


def _remove_stale(out_dir: Path, name: str) -> None:
    for fmt in ("png", "svg"):
        (out_dir / f"{name}.{fmt}").unlink(missing_ok=True)
