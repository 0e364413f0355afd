"""The over-time charts of a run: throughput, latency and the service's resources per second.

A line over time says something only with enough points on it: with 4–7 points per window,
five repetitions drawn on top of each other show noise, not a trend. So each chart is drawn
only when every window it draws has at least ``MIN_POINTS`` points (``points_per_window``
says how many it has; ``absent_note`` is the report's note when the windows are too short),
each repetition thin and the median over repetitions bold.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from chatbench.configuration.endpoints import ALL
from chatbench.presenting.chartkit import (
    ChartData,
    ChartSkipped,
    figure,
    finish,
    legend_outside,
    set_latency_scale,
)
from chatbench.storing.rundir import Run

MIN_POINTS = 20  # points per window a line over time needs
TIME_AXIS = "Time since the start of the measured window (s)"


def points_per_window(frame: pd.DataFrame) -> int:
    """The fewest points any (variant, repetition) window of ``frame`` has in its measured
    part (second ≥ 0); 0 for an empty frame."""
    if frame.empty:
        return 0
    measured = frame[frame["second"] >= 0]
    if measured.empty:
        return 0
    return int(measured.groupby(["variant", "repetition"])["second"].nunique().min())


def absent_note(run: Run) -> str:
    """The report's note when the run's windows are too short for any line over time ("" when
    they are long enough): one point a second, so a window needs ``MIN_POINTS`` seconds."""
    durations = [r.duration_s for r in run.repetitions if r.duration_s > 0]
    if not durations or min(durations) >= MIN_POINTS:
        return ""
    return (
        f"Throughput, latency and resources over time are not drawn: {min(durations):g} s "
        f"windows, {MIN_POINTS} points per window needed (a --duration of {MIN_POINTS} s or "
        "more draws them)."
    )


def _enough(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    points = points_per_window(frame)
    if points < MIN_POINTS:
        raise ChartSkipped(
            f"{points} {what} per window, {MIN_POINTS} needed for a line over time "
            "(a longer --duration draws it)"
        )
    return frame


def _series_all(data: ChartData) -> pd.DataFrame:
    ts = data.series
    if ts.empty:
        raise ChartSkipped("requests.json has no per-second series")
    return _enough(ts[ts["endpoint"] == ALL], "seconds")


def chart_throughput_over_time(data: ChartData) -> Figure:
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
    ax.set_xlabel(TIME_AXIS)
    ax.set_ylabel("Throughput (successful requests/s)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    legend_outside(fig, ax)
    finish(fig, data.run, "Throughput over time — all endpoints (thin: each repetition)")
    return fig


def chart_latency_over_time(data: ChartData) -> Figure:
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
    ax.set_xlabel(TIME_AXIS)
    ax.set_ylabel("Latency (ms)")
    ax.grid(alpha=0.3, which="both")
    legend_outside(fig, ax)
    finish(fig, data.run, "Latency over time — all endpoints, median over repetitions per second")
    return fig


def chart_server_resources(data: ChartData) -> Figure:
    res = data.resources
    if res.empty:
        raise ChartSkipped("no samples.csv (or no rows for this run's repetitions)")
    server = res[res["role"] == "server"]
    if server.empty:
        raise ChartSkipped("samples.csv has no role=server rows")
    _enough(server, "samples")
    loadgen = res[res["role"] == "loadgen"]
    fig = figure(12.0, 5.0)
    ax_cpu, ax_rss = fig.subplots(1, 2)
    for v in data.run.variants:
        colour = data.colour(v)
        mine = server[server["variant"] == v]
        for _, rep in mine.groupby("repetition"):
            ax_cpu.plot(rep["second"], rep["cpu_percent"], color=colour, linewidth=0.8, alpha=0.3)
            ax_rss.plot(rep["second"], rep["rss_mb"], color=colour, linewidth=0.8, alpha=0.3)
        by_second = mine.assign(second=mine["second"].round()).groupby("second")
        cpu, rss = by_second["cpu_percent"].median(), by_second["rss_mb"].median()
        ax_cpu.plot(cpu.index, cpu.to_numpy(), color=colour, linewidth=2.0, label=f"{v} server")
        ax_rss.plot(rss.index, rss.to_numpy(), color=colour, linewidth=2.0)
        theirs = loadgen[loadgen["variant"] == v]
        if not theirs.empty:
            gen = theirs.assign(second=theirs["second"].round()).groupby("second")["cpu_percent"]
            gen = gen.median()
            ax_cpu.plot(
                gen.index,
                gen.to_numpy(),
                color=colour,
                linewidth=1.2,
                linestyle=":",
                label=f"{v} load generator",
            )
    for ax in (ax_cpu, ax_rss):
        ax.axvline(0, color="#888888", linewidth=0.8)
        ax.set_xlabel(TIME_AXIS)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    ax_cpu.set_ylabel("CPU (% of one core, whole process tree)")
    ax_cpu.set_title("CPU", fontsize=10)
    ax_rss.set_ylabel("Resident memory (MiB, whole process tree)")
    ax_rss.set_title("Server RSS", fontsize=10)
    legend_outside(fig, ax_cpu)
    finish(
        fig,
        data.run,
        "Server resources over time (thin: each repetition; bold: median)",
        ["Before 0 (the grey line): the warm-up, not in any figure."],
    )
    return fig
