"""Charts of a run: every figure with its spread, one PNG + one SVG per chart in ``charts/``.

Charts (file stem → what it shows), in report order:

* ``grid``                 suite runs only: throughput and p95 by setting (axis value), one
                           colour per framework, whiskers, a row of panels per scenario
* ``ratio``                each variant / its reference (``ratio_chart``): throughput per
                           endpoint and latency at equal offered load, log axis centred on 1
* ``throughput``           successful requests/s per variant (all endpoints and per endpoint),
                           plus requests per service CPU-second (CPU ms per request where
                           every service was CPU-saturated); geometric mean with whiskers
* ``equal_load``           latency at equal offered load (``openload_chart``)
* ``slo``                  capacity under the latency objective (``openload_chart``)
* ``latency_vs_throughput`` ramp runs only: one panel per variant, the knee marked
                           (``knee_chart``)
* ``db_time``              per request: service CPU, database execution, waiting
* ``latency_percentiles``  the closed-loop latency spectrum per endpoint, HdrHistogram's
                           x = 1 / (1 − q); a percentile only where its windows can hold it
* ``throughput_over_time``, ``latency_over_time``, ``server_resources``: per second, drawn
                           only with 20 points per window or more (``overtime_chart``)

Whiskers and colours follow ``chartkit``. The registry is ``CHARTS`` (one ``ChartSpec`` per
chart, in report order); ``compare_chart`` draws ``chatbench compare``'s chart of the changes.
A chart whose data is absent (no samples.csv, not a ramp run, not a suite run, no pair of
variants, windows too short) is skipped with a logged reason. Every text a chart shows is
read back from its SVG by tests/presenting/test_chart_readback.py.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from chatbench.analysing import tails, timesplit
from chatbench.configuration.endpoints import ALL
from chatbench.configuration.endpoints import short as endpoint_short
from chatbench.configuration.windows import samples_needed
from chatbench.presenting.chartkit import (
    ChartData,
    ChartSkipped,
    bounds_label,
    figure,
    finish,
    legend,
    legend_outside,
    save,
    set_latency_scale,
    spectrum_axis,
    spectrum_x,
    variant_ticks,
    yerr,
)
from chatbench.presenting.grid_chart import GRID_CHART, chart_grid
from chatbench.presenting.knee_chart import chart_latency_vs_throughput
from chatbench.presenting.openload_chart import (
    EQUAL_LOAD_CHART,
    SLO_CHART,
    chart_equal_load,
    chart_slo,
)
from chatbench.presenting.overtime_chart import (
    chart_latency_over_time,
    chart_server_resources,
    chart_throughput_over_time,
)
from chatbench.presenting.ratio_chart import chart_ratio, ratio_pairs
from chatbench.storing.rundir import Run, RunDirectoryError, load_run

__all__ = ["CHARTS", "CHART_NAMES", "ChartSpec", "build", "draw_all", "draw_chart", "ratio_pairs"]

log = logging.getLogger(__name__)

# The closed-loop spectrum's percentiles: summary metric -> percentile.
SPECTRUM = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99_9": 99.9}
SATURATED = 0.9  # a service using this share of its CPUs or more is saturated


def service_cpus(run: Run) -> int:
    """The CPUs the service could use: its pinned set, else the machine's."""
    plan = run.record.cpu_plan
    if plan.pinned and plan.server:
        return len(plan.server)
    return int(run.record.machine.cpu_count or 1)


def cpus_in_use(data: ChartData, variant: str) -> float:
    """The service's CPUs busy over the measured window: throughput / requests per CPU-second."""
    rps, per_cpu = data.row(variant, ALL, "rps"), data.row(variant, ALL, "req_per_cpu_s")
    if rps is None or per_cpu is None or per_cpu[0] <= 0:
        return math.nan
    return rps[0] / per_cpu[0]


def cpu_saturated(data: ChartData) -> bool:
    """Whether every variant's service kept its CPUs at least ``SATURATED`` busy: then
    requests per CPU-second only restate throughput, and the panel shows CPU per request."""
    budget = service_cpus(data.run)
    used = [cpus_in_use(data, v) for v in data.run.variants]
    used = [u for u in used if math.isfinite(u)]
    return bool(used) and all(u >= SATURATED * budget for u in used)


CROWDED = 4  # more bars than this in a panel: names in the legend, value labels upright


def _bar_labels(
    ax: Axes, x: Sequence[float], rows: Sequence[tuple[float, float, float, int] | None], fmt: str
) -> None:
    """Each bar's value above its whisker; turned upright when the bars are crowded."""
    crowded = len(rows) > CROWDED
    for xi, r in zip(x, rows, strict=True):
        if r:
            ax.annotate(
                format(r[0], fmt),
                (xi, r[2] if math.isfinite(r[2]) else r[0]),
                textcoords="offset points",
                xytext=(0, 4),
                ha="center",
                va="bottom",
                fontsize=7.5 if crowded else 8.5,
                rotation=90 if crowded else 0,
            )


def _variant_axis(ax: Axes, x: Sequence[float], variants: Sequence[str]) -> None:
    """Variant names under the bars, or, with more than ``CROWDED``, none: the legend beside
    the chart names each colour (a suite's long labels would run into each other)."""
    if len(variants) > CROWDED:
        ax.set_xticks([])
        ax.set_xlabel("variants: see the legend")
    else:
        variant_ticks(ax, x, variants)


def _per_request_ms(
    row: tuple[float, float, float, int] | None,
) -> tuple[float, float, float, int] | None:
    """Requests per CPU-second as CPU milliseconds per request (bounds swap: 1000 / x)."""
    if row is None or row[0] <= 0:
        return None
    value, low, high, n = row
    flip = lambda x: 1000.0 / x if math.isfinite(x) and x > 0 else math.nan  # noqa: E731
    return flip(value), flip(high), flip(low), n


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
    _bar_labels(ax_all, x, rows, ",.0f")
    _variant_axis(ax_all, x, variants)
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
    for ax in (ax_all, ax_ep):
        ax.margins(y=0.2 if len(variants) > CROWDED else 0.12)  # room for the value labels

    notes = []
    if has_eff:
        ax_eff = axes[2]
        rows = [data.row(v, ALL, "req_per_cpu_s") for v in variants]
        budget = service_cpus(run)
        if cpu_saturated(data):
            rows = [_per_request_ms(r) for r in rows]
            ax_eff.set_title("Service CPU per request", fontsize=10)
            ax_eff.set_ylabel("Service CPU ms per request")
            fmt = ".2f"
            notes.append(
                f"Every service kept its {budget} CPU{'s' if budget != 1 else ''} at least "
                f"{SATURATED:.0%} busy, so requests per CPU-second would restate throughput: "
                "the right panel shows the CPU each request cost."
            )
        else:
            ax_eff.set_title("Efficiency", fontsize=10)
            ax_eff.set_ylabel("Requests per service CPU-second")
            fmt = ",.0f"
        ax_eff.bar(x, [r[0] if r else 0 for r in rows], color=colours, yerr=yerr(rows), capsize=5)
        _bar_labels(ax_eff, x, rows, fmt)
        _variant_axis(ax_eff, x, variants)
        ax_eff.margins(y=0.2 if len(variants) > CROWDED else 0.12)
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    finish(fig, run, f"Throughput — geometric mean of repetitions ({bounds_label(data)})", notes)
    return fig


def not_drawn(percentile: float, most: Mapping[tuple[str, str], int], every: int) -> str:
    """``p99 not drawn for django (GET /messages): at most 838 requests in a window, 1,000
    needed.`` (``most``: per variant and endpoint panel, the most requests a window had; no
    "for" when all ``every`` panels' points lack it)."""
    who = ""
    if len(most) < every:
        by_variant: dict[str, list[str]] = {}
        for v, e in most:
            by_variant.setdefault(v, []).append(endpoint_short(e))
        who = " for " + ", ".join(f"{v} ({', '.join(es)})" for v, es in sorted(by_variant.items()))
    return (
        f"{tails.label(percentile)} not drawn{who}: at most {max(most.values()):,} requests in "
        f"a window, {samples_needed(percentile):,} needed."
    )


def _chart_latency_percentiles(data: ChartData) -> Figure:
    """Each variant's closed-loop latency spectrum (HdrHistogram's x axis), per endpoint; a
    percentile is drawn only from windows with the requests it needs (``tails``' count rule)."""
    run = data.run
    endpoints = [*run.endpoints, ALL]
    fig = figure(max(11.0, 3.2 * len(endpoints)), 5.0)
    axes = np.atleast_1d(fig.subplots(1, len(endpoints), sharey=True))
    all_values: list[float] = []
    # percentile -> (variant, endpoint) -> the most requests a window had
    left_out: dict[float, dict[tuple[str, str], int]] = {}
    for ax, endpoint in zip(axes, endpoints, strict=True):
        for i, v in enumerate(run.variants):
            requests = data.values(v, endpoint, "requests")
            fewest = int(requests.min()) if requests.size else 0
            xs, rows = [], []
            for metric, q in SPECTRUM.items():
                row = data.row(v, endpoint, metric)
                if row is None:
                    continue
                if fewest < samples_needed(q):
                    mine = left_out.setdefault(q, {})
                    mine[(v, endpoint)] = max(mine.get((v, endpoint), 0), fewest)
                    continue
                xs.append(spectrum_x(q) * (1 + 0.04 * (i - (len(run.variants) - 1) / 2)))
                rows.append(row)
            if not rows:
                continue
            all_values += [r[1] for r in rows] + [r[2] for r in rows] + [r[0] for r in rows]
            ax.errorbar(
                xs,
                [r[0] for r in rows],
                yerr=yerr(rows),
                color=data.colour(v),
                marker="o",
                markersize=4,
                capsize=3,
                linewidth=1.2,
                label=v,
            )
        spectrum_axis(ax, list(SPECTRUM.values()))
        ax.set_title(endpoint_short(endpoint), fontsize=10)
        ax.grid(alpha=0.3, which="both")
    set_latency_scale(axes[0], all_values)
    axes[0].set_ylabel("Latency (ms), closed loop")
    legend(axes[0], loc="upper left")
    every = len(run.variants) * len(endpoints)
    notes = [not_drawn(q, left_out[q], every) for q in sorted(left_out)]
    notes.append(
        "x: 1 / (1 − q) on a log scale (HdrHistogram's percentile spectrum). Closed-loop "
        "latency is each variant's own shape, not compared across variants (Little's law)."
    )
    finish(
        fig,
        run,
        f"Latency spectrum, closed loop — geometric mean ({bounds_label(data)})",
        notes,
    )
    return fig


def _chart_db_time(data: ChartData) -> Figure:
    """Per request: service CPU, database execution and waiting (``analysing.timesplit``), in
    the run's own load and, when the run measured it, at its lowest equal offered rate."""
    run = data.run
    panels = [
        (
            f"{run.mode} load"
            + (" — mostly queueing (Little's law)" if run.mode == "closed" else ""),
            timesplit.split(run, keep_invalid=True),
        )
    ]
    section = run.record.equal_load
    if section is not None and section.phases:
        lowest = min(section.phases, key=lambda p: float(p.rate))
        with contextlib.suppress(RunDirectoryError):
            panels.append(
                (
                    f"{float(lowest.rate):,.0f} req/s offered to each (below capacity)",
                    timesplit.split(load_run(run.path / lowest.directory), keep_invalid=True),
                )
            )
    panels = [
        (
            t,
            [
                x
                for x in splits
                if math.isfinite(x.latency_ms)
                and (math.isfinite(x.cpu_ms) or math.isfinite(x.db_ms))
            ],
        )
        for t, splits in panels
    ]
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
        ax.barh(y, db, left=cpu, color=colours, alpha=0.6, edgecolor="white")
        left = [a + b for a, b in zip(cpu, db, strict=True)]
        ax.barh(y, wait, left=left, color=colours, alpha=0.22, edgecolor="white")
        for yi, x in zip(y, splits, strict=True):
            ax.annotate(
                f"CPU {x.cpu_ms:.2f} + DB {x.db_ms:.2f} + waiting {x.waiting_ms:.2f} ms "
                f"({100 * x.waiting_share:.0f} % waiting) = {x.latency_ms:.2f} ms mean",
                (x.latency_ms, yi),
                textcoords="offset points",
                xytext=(4, -3),
                fontsize=8,
            )
        ax.set_yticks(y, [x.variant for x in splits])
        ax.invert_yaxis()
        ax.set_xlim(0, max(x.latency_ms for x in splits) * 1.9)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel("Milliseconds per request (mean latency from the histograms)")
    key = [
        Patch(color="#555555", label="service CPU (CPU-seconds / requests)"),
        Patch(
            facecolor="#555555",
            alpha=0.6,
            edgecolor="white",
            label="database execution (pg_stat_statements)",
        ),
        Patch(
            facecolor="#555555",
            alpha=0.22,
            edgecolor="white",
            label="waiting: latency minus both (queues, network, driver)",
        ),
    ]
    axes[-1].legend(
        handles=key,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.3),
        ncols=3,
        fontsize=8,
        frameon=False,
    )
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


_WHISKERS = (
    "whiskers as the title says: a 95 % CI (t interval on the log values) from 3 repetitions, "
    "the range with 2, none with 1"
)
# In report order: the answers' charts first, the evidence after.
CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        GRID_CHART,
        chart_grid,
        "The suite's grid: each setting per framework",
        "Throughput and p95 latency (all endpoints) for every setting of the suite, one colour "
        "per framework, one row per scenario; bars are geometric means over repetitions, the "
        f"same figures as summary.csv, with {_WHISKERS}. A ramp's figures cover the whole ramp.",
    ),
    ChartSpec(
        "ratio",
        chart_ratio,
        "Ratios between the variants",
        "Each variant against its reference (the title names the pairs), on a log axis centred "
        "on 1: 2× and 0.5× are equally far from it, and each side says which is better. "
        "Throughput per endpoint, and latency at an equal offered load where the run measured "
        "it; closed-loop latency is never a ratio (it restates throughput). From 3 repetitions "
        "a side the whisker is the 95 % CI of Welch's t-test on the log values (filled: it "
        "excludes 1); with 2 it is the range of the ratios, which supports no such claim.",
    ),
    ChartSpec(
        "throughput",
        _chart_throughput,
        "Throughput",
        f"Successful requests per second, geometric mean over repetitions; {_WHISKERS}. Right: "
        "requests per CPU-second of the service, or, where every service kept its CPUs "
        "saturated (then that would restate throughput), the CPU milliseconds each request cost.",
    ),
    ChartSpec(
        EQUAL_LOAD_CHART,
        chart_equal_load,
        "Latency at equal offered load",
        "Every variant offered the same open-model rate (fractions of the slowest variant's "
        "capacity measured earlier in the run); latency counts from the intended send time. "
        f"Points: geometric mean over repetitions on a log axis, {_WHISKERS}; a percentile is "
        "drawn only from windows that can hold it, and the note under the chart names the "
        "others. ▲: the variant did not keep the rate, a lower bound.",
    ),
    ChartSpec(
        SLO_CHART,
        chart_slo,
        "Capacity under the latency objective",
        "Each point is one window: the objective's percentile against the rate offered "
        "(filled: kept; hollow: missed; ×: not measured). The dashed line is the objective; a "
        "vertical line is the rate a variant keeps in every window, its band reaching to the "
        "lowest rate missed in every window (the legend gives both).",
    ),
    ChartSpec(
        "latency_vs_throughput",
        chart_latency_vs_throughput,
        "Latency vs throughput",
        "One panel per variant, one point per users step of the ramp; the star marks the knee, "
        "the step of highest throughput / p50 latency, beyond which latency grows faster than "
        "throughput.",
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
    ChartSpec(
        "latency_percentiles",
        _chart_latency_percentiles,
        "Latency spectrum (closed loop)",
        "From HDR histograms of every response (µs resolution), per endpoint, in HdrHistogram's "
        "convention: x is 1 / (1 − q) on a log axis, so p90, p99 and p99.9 are equally spaced. "
        "A percentile is drawn only where every window had the requests it needs.",
    ),
    ChartSpec(
        "throughput_over_time",
        chart_throughput_over_time,
        "Throughput over time",
        "Each thin line is one repetition; the bold line is their median. Look for a warm-up "
        "ramp, drift or stalls. Drawn only with at least 20 seconds per window.",
    ),
    ChartSpec(
        "latency_over_time",
        chart_latency_over_time,
        "Latency over time",
        "p50 (solid) and p95 (dashed) per second, median over repetitions. Drawn only with at "
        "least 20 seconds per window.",
    ),
    ChartSpec(
        "server_resources",
        chart_server_resources,
        "Server resources",
        "CPU and resident memory of the service's whole process tree (dotted: load generator "
        "CPU); thin: each repetition, bold: their median. Time 0 is the start of the measured "
        "window. Drawn only with at least 20 samples per window.",
    ),
)
CHART_NAMES = tuple(spec.name for spec in CHARTS)
_CHARTS: dict[str, Callable[[ChartData], Figure]] = {spec.name: spec.draw for spec in CHARTS}


def build(run: Run, name: str, data: ChartData | None = None) -> Figure:
    """One chart of ``run`` as a figure, not saved (the chart tests read it); raises
    ``ChartSkipped`` when its data is absent."""
    return _CHARTS[name](data or ChartData(run))


def draw_chart(run: Run, name: str, out_dir: Path | None = None) -> list[Path]:
    """Draw one chart by name; raises ``ChartSkipped`` when its data is absent."""
    return save(build(run, name), out_dir or run.path / "charts", name)


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
