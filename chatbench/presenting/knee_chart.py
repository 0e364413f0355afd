"""The ramp chart of a run: latency against throughput, one small panel per variant, the knee marked.

Sixteen series in one panel, in near-identical shades, with lines that fold back on
themselves, cannot be read; so each variant gets its own panel on shared axes (a suite's
panels read left to right, framework by framework), p95 and p50 in distinct markers and line
styles, each point labelled with its users. The **knee** is the step of highest
throughput / p50 latency (Kleinrock's *power*: the load beyond which latency grows faster than
throughput), marked with a star and named in the panel's title.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from chatbench.analysing.tables import ramp_steps
from chatbench.presenting.chartkit import (
    ChartData,
    ChartSkipped,
    figure,
    finish,
    log_latency_axis,
    use_log,
)

COLUMNS = 4  # panels per row


@dataclass(frozen=True)
class Knee:
    users: int
    rps: float
    p50: float
    p95: float


def steps_of(steps: pd.DataFrame, variant: str) -> pd.DataFrame:
    """A variant's ramp steps: the median over repetitions per users step, in users order."""
    mine = steps[steps["variant"] == variant]
    return mine.groupby("users")[["rps", "p50", "p95"]].median().sort_index()


def knee(med: pd.DataFrame) -> Knee | None:
    """The step of highest throughput / p50 (Kleinrock's power); None without a usable step."""
    power = med["rps"] / med["p50"]
    power = power[np.isfinite(power) & (power > 0)]
    if power.empty:
        return None
    users = int(power.idxmax())
    row = med.loc[users]
    return Knee(users, float(row["rps"]), float(row["p50"]), float(row["p95"]))


def chart_latency_vs_throughput(data: ChartData) -> Figure:
    run = data.run
    if run.mode != "ramp":
        raise ChartSkipped(f"mode is {run.mode!r}, not 'ramp'")
    steps = ramp_steps(run)
    if steps.empty:
        raise ChartSkipped("ramp run without users_series: no users steps to group by")
    variants = [v for v in run.variants if not steps[steps["variant"] == v].empty]
    cols = min(COLUMNS, len(variants))
    rows = math.ceil(len(variants) / cols)
    fig = figure(3.3 * cols + 1.2, 2.9 * rows + 1.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    values = [float(x) for x in steps[["p50", "p95"]].to_numpy().ravel() if x > 0]
    for ax, v in zip(axes, variants, strict=False):
        med = steps_of(steps, v)
        colour = data.colour(v)
        ax.plot(med["rps"], med["p95"], color=colour, marker="o", linewidth=1.8)
        ax.plot(
            med["rps"],
            med["p50"],
            color=colour,
            marker="s",
            markersize=4,
            linestyle="--",
            linewidth=1.2,
            markerfacecolor="white",
        )
        found = knee(med)
        title = v
        if found is not None:
            ax.plot(
                [found.rps],
                [found.p50],
                marker="*",
                markersize=15,
                color="#c8102e",
                linestyle="none",
                zorder=5,
            )
            title += f"\nknee: {found.users} users, {found.rps:,.0f} req/s"
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, which="both")
    for ax in axes[len(variants) :]:
        ax.set_visible(False)
    if use_log(values):
        log_latency_axis(axes[0])
    for ax in axes[::cols]:
        ax.set_ylabel("Latency (ms)")
    for ax in axes[(rows - 1) * cols : len(variants)]:
        ax.set_xlabel("Throughput (req/s)")
    axes[0].xaxis.set_major_locator(MaxNLocator(nbins=4))  # shared: every panel's ticks
    key = [
        Line2D([], [], color="#555555", marker="o", linewidth=1.8, label="p95"),
        Line2D(
            [],
            [],
            color="#555555",
            marker="s",
            markerfacecolor="white",
            linestyle="--",
            label="p50",
        ),
        Line2D(
            [],
            [],
            color="#c8102e",
            marker="*",
            markersize=12,
            linestyle="none",
            label="knee: highest throughput / p50",
        ),
    ]
    fig.legend(handles=key, loc="outside lower center", ncols=3, fontsize=8.5, frameon=False)
    finish(
        fig, run, "Latency vs throughput per users step, one panel per variant — where the knee is"
    )
    return fig
