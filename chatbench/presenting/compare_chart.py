"""The chart of ``chatbench compare``: each change with its whisker, coloured by verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from chatbench.analysing.stats import Verdict
from chatbench.configuration.endpoints import short as endpoint_short
from chatbench.presenting.chartkit import ChartSkipped, figure, save, variant_colour, whiskers

if TYPE_CHECKING:
    from chatbench.analysing.compare import Comparison

_VERDICT_COLOURS = {
    Verdict.SLOWER: "#c8102e", Verdict.FASTER: "#0b7a53",
    Verdict.NO_CHANGE: "#8a8a8a", Verdict.NOT_JUDGED: "#b8b8b8",
}  # fmt: skip
_COMPARE_METRICS = ("rps", "p50", "p95", "p99")
_COMPARE_TITLES = {
    "rps": "Throughput", "p50": "p50 latency", "p95": "p95 latency", "p99": "p99 latency",
    "req_per_cpu_s": "Requests per CPU-second",
}  # fmt: skip


def draw_compare_changes(
    result: Comparison, out_dir: Path, name: str, metrics: Sequence[str] | None = None
) -> list[Path]:
    """``compare_figure`` saved as ``name``.png and .svg in ``out_dir``."""
    return save(compare_figure(result, metrics), out_dir, name)


def change_label(change: float) -> str:
    """A point's value label: ``+12.3 %``."""
    return f"{change * 100:+.1f} %"


def compare_figure(result: Comparison, metrics: Sequence[str] | None = None) -> Figure:
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
    fig = figure(max(10.0, 3.2 * len(metrics)), max(3.5, 0.42 * len(rows) + 2.2))
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
            ax.annotate(change_label(c.change), (c.change * 100, yi),
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
        f"{whiskers({c.interval for c in result.changes})}\nfilled: significant (Welch p < "
        f"0.05 and |change| ≥ {result.threshold * 100:.0f} %, the grey band); hollow: not, or "
        "not judged",
        fontsize=10.5,
        fontweight="bold",
    )
    return fig
