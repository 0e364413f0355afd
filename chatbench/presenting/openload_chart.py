"""The open-model charts of a run: latency at equal offered load, and the SLO search.

``equal_load``: per offered rate (one panel each), p50 / p95 / p99 / p99.9 per variant from the
intended send time, bars the geometric mean over repetitions with whiskers as the title says
(``analysing.openload``); a variant that did not keep the rate is drawn hatched at its lower
bound and labelled "≥", never as a figure to compare. ``slo``: the chosen percentile against
the offered rate, one point per search step (filled: within the objective and the rate kept;
hollow: not; ×: overloaded), the objective drawn as a line and each variant's found rate (the
geometric mean of its searches) with its interval as a band: where the knee is.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from chatbench.analysing import openload, stats
from chatbench.analysing import slo as slo_answer
from chatbench.presenting.chartkit import (
    ChartData,
    ChartSkipped,
    figure,
    finish,
    set_latency_scale,
    whiskers,
)

EQUAL_LOAD_CHART = "equal_load"
SLO_CHART = "slo"


def chart_equal_load(data: ChartData) -> Figure:
    run = data.run
    section = run.record.equal_load
    rates = [] if section is None else [
        r for p in section.phases if (r := openload.rate_latency(run.path, p)) is not None
    ]  # fmt: skip
    if not rates:
        raise ChartSkipped("the run measured no latency at equal offered load")
    metrics = list(openload.SHOWN)
    fig = figure(max(7.0, 4.6 * len(rates)), 5.0)
    axes = np.atleast_1d(fig.subplots(1, len(rates), sharey=True))
    methods: set[str] = set()
    drawn: list[float] = []
    for ax, found in zip(axes, rates, strict=True):
        width = 0.8 / max(1, len(found.variants))
        x = np.arange(len(metrics))
        for i, v in enumerate(found.variants):
            offset = (i - (len(found.variants) - 1) / 2) * width
            colour = data.colour(v.variant)
            if v.kept_up:
                missing = stats.Estimate(math.nan, math.nan, math.nan, 0, stats.NONE)
                est = [v.percentiles.get(m, missing) for m in metrics]
                methods |= {e.method for e in est}
                values = [e.value for e in est]
                err = np.nan_to_num(np.array([[max(0, e.value - e.low) for e in est],
                                              [max(0, e.high - e.value) for e in est]]))  # fmt: skip
                ax.bar(x + offset, values, width, color=colour, yerr=err, capsize=3,
                       label=v.variant)  # fmt: skip
            else:
                values = [v.lower_bounds.get(m, math.nan) for m in metrics]
                ax.bar(x + offset, values, width, color=colour, alpha=0.35, hatch="//",
                       edgecolor=colour, label=f"{v.variant} (overloaded: ≥)")  # fmt: skip
                for xi, value in zip(x + offset, values, strict=True):
                    if math.isfinite(value):
                        ax.annotate("≥", (xi, value), textcoords="offset points", xytext=(0, 3),
                                    ha="center", fontsize=9)  # fmt: skip
            drawn += [y for y in values if math.isfinite(y)]
        ax.set_xticks(x, [openload.SHOWN[m] for m in metrics])
        ax.set_title(f"{found.rate:,.0f} req/s offered ({100 * found.fraction:g} %)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    set_latency_scale(axes[0], drawn)
    axes[0].set_ylabel("Latency from the intended send time (ms)")
    axes[0].legend(loc="upper left", fontsize=8.5, frameon=False)
    of = f" of {section.slowest}'s capacity" if section and section.slowest else ""
    finish(fig, run, f"Latency at equal offered load (fractions{of}) — {whiskers(methods)}")
    return fig


def chart_slo(data: ChartData) -> Figure:
    run = data.run
    section = run.record.slo
    answer = slo_answer.slo_answer(run.path, run.record)
    if section is None or answer is None or not answer.variants:
        raise ChartSkipped("the run searched for no capacity under a latency objective")
    fig = figure(11.0, 5.2)
    ax = fig.subplots()
    values: list[float] = [float(section.bound_ms)]
    styles = ((slo_answer.KEPT, "o", True), (slo_answer.MISSED, "o", False),
              (slo_answer.NOT_MEASURED, "x", True))  # fmt: skip
    for v in answer.variants:
        colour = data.colour(v.variant)
        for outcome, marker, filled in styles:
            chosen = [w for w in v.windows if w.outcome == outcome and w.value_ms is not None]
            if not chosen:
                continue
            edges = {} if marker == "x" else {"edgecolors": colour}  # an x has no edge
            ax.scatter([w.rate for w in chosen], [float(w.value_ms) for w in chosen],
                       marker=marker, facecolors=colour if filled else "none", s=36,
                       label=f"{v.variant}: {outcome}", **edges)  # fmt: skip
            values += [float(w.value_ms) for w in chosen]
        b = v.bracket
        if b.stable and b.low is not None:
            high = b.high if b.high is not None else b.low
            ax.axvline(b.low, color=colour, linewidth=1.5,
                       label=f"{v.variant}: holds {b.low:,.0f} req/s")  # fmt: skip
            if high > b.low:
                ax.axvspan(b.low, high, color=colour, alpha=0.12)
    ax.axhline(float(section.bound_ms), color="#c8102e", linestyle="--", linewidth=1.2,
               label=f"objective p{section.percentile:g} ≤ {section.bound_ms:g} ms")  # fmt: skip
    set_latency_scale(ax, values)
    ax.set_xlabel("Offered rate (requests/s, open model)")
    ax.set_ylabel(f"p{section.percentile:g} latency from the intended send time (ms)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, frameon=True, framealpha=0.85)
    finish(fig, run, f"Capacity within p{section.percentile:g} ≤ {section.bound_ms:g} ms — every "
                     "window; vertical line: the rate it holds, band: up to the lowest rate missed")  # fmt: skip
    return fig
