"""The grid chart of a suite run: throughput and p95 by setting, per framework and scenario."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from chatbench.analysing.suite_answer import grid_cells
from chatbench.configuration.endpoints import ALL
from chatbench.presenting.chartkit import (
    ChartData,
    ChartSkipped,
    bounds_label,
    figure,
    finish,
    legend_outside,
    variant_colour,
    yerr,
)
from chatbench.presenting.formatting import fmt_value

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

    ``cells`` maps each run label to its grid cell (``suite_answer.grid_cells``: objects with
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


def chart_grid(data: ChartData) -> Figure:
    run = data.run
    suite = run.record.suite
    if suite is None:
        raise ChartSkipped("not a suite run (meta.json has no suite)")
    table = grid_table(data.summary, grid_cells(run))
    if table.empty:
        raise ChartSkipped("the summary has no throughput or p95 rows")
    scenarios = list(dict.fromkeys(table["scenario"]))
    n_settings = max(table.groupby("scenario")["setting"].nunique())
    fig = figure(max(10.0, 2.0 + 2.0 * 1.1 * n_settings), 1.3 + 3.9 * len(scenarios))
    axes = np.atleast_2d(fig.subplots(len(scenarios), len(GRID_METRICS), squeeze=False))
    for row_axes, scenario in zip(axes, scenarios, strict=True):
        sub = table[table["scenario"] == scenario]
        settings = list(dict.fromkeys(sub["setting"]))
        for ax, (metric, title, ylabel) in zip(row_axes, GRID_METRICS, strict=True):
            _grid_panel(ax, sub[sub["metric"] == metric], settings)
            ax.set_title(f"{title} — {scenario} scenario", fontsize=10)
            ax.set_ylabel(ylabel)
    legend_outside(fig, axes[0][0])
    name = suite.name or "suite"
    ramp = " (ramp: over the whole ramp)" if run.mode == "ramp" else ""
    finish(fig, run, f"{name}: by setting — geometric mean ({bounds_label(data)}){ramp}")
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
                   yerr=yerr([est]), capsize=4,
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
