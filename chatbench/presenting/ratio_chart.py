"""The ratio chart of a run: each variant against its reference, on a log axis centred on 1.

A ratio of 2 and a ratio of 0.5 are the same size of difference, so ratios sit on a log axis
whose limits are symmetric around 1, and each side of 1 names which variant is better there.
Panels: throughput per endpoint (closed loop: capacity), and, where the run measured it,
latency at an equal offered load per rate and percentile (the percentiles its windows can
hold, ``equal_load_answer.latency_ratio``). Closed-loop latency is never drawn as a ratio: with a fixed
number of users it restates throughput (Little's law). Each point is labelled with its value
beside it, never above, where a panel's title sits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from chatbench.analysing import answers, openload, stats, tails
from chatbench.analysing.stats import ratio_interval
from chatbench.analysing.tables import repetition_metrics, without_invalid
from chatbench.configuration.endpoints import ALL
from chatbench.configuration.endpoints import short as endpoint_short
from chatbench.presenting.chartkit import (
    ChartData,
    ChartSkipped,
    figure,
    finish,
    framework_of,
    ratio_axis,
    whiskers,
)
from chatbench.presenting.equal_load_answer import latency_ratio
from chatbench.presenting.openload_chart import equal_load_rates


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


@dataclass(frozen=True)
class RatioPoint:
    """One drawn ratio: its row label, the pair, the estimate and its test; ``widened``: the
    interval widened to cover the other instrument's reading (``answers.widened``); ``note``:
    why it is not called significant whatever its interval says."""

    row: str
    variant: str
    reference: str
    ratio: stats.Estimate
    p: float = 1.0
    widened: stats.Estimate | None = None
    note: str = ""

    @property
    def significant(self) -> bool:
        """Significant as the verdict calls it (``headline``): the test, the widened interval
        where there is one, and no disagreement between the generators."""
        if self.note or not stats.is_significant(self.ratio, self.p):
            return False
        return self.widened is None or self.widened.excludes(1.0)


@dataclass(frozen=True)
class RatioPanel:
    title: str
    higher_is_better: bool
    points: tuple[RatioPoint, ...]


def label(est: stats.Estimate) -> str:
    """The value label beside a point: ``1.86×``."""
    return f"{est.value:.2f}×"


def _throughput_points(data: ChartData, pairs: list[tuple[str, str]]) -> tuple[RatioPoint, ...]:
    """Throughput ratios per endpoint over the repetitions the answer keeps (invalid ones left
    out), the all-endpoints one widened where the cited Locust/wrk cross-check disagrees."""
    run, _ = without_invalid(data.run)
    reps = repetition_metrics(run)
    biases = answers.instrument_biases(run.record) if run.mode == "closed" else {}

    def values(variant: str, endpoint: str) -> np.ndarray:
        if reps.empty:
            return np.array([])
        mine = reps[(reps["variant"] == variant) & (reps["endpoint"] == endpoint)]
        return mine[mine["metric"] == "rps"]["value"].to_numpy(dtype=float)

    out = []
    for d, f in pairs:
        for e in [*run.endpoints, ALL]:
            est, p = ratio_interval(values(d, e), values(f, e))
            kv, kr = biases.get(d), biases.get(f)
            wide = None
            if e == ALL and kv and kr and not (kv.agrees and kr.agrees) and est.is_ci:
                wide = answers.widened(est, kv, kr)
            out.append(RatioPoint(endpoint_short(e), d, f, est, p, wide))
    return tuple(out)


def panels(data: ChartData) -> list[RatioPanel]:
    """What the ratio chart draws, as data (the chart test reads the chart back against it)."""
    run = data.run
    pairs = ratio_pairs(run.variants, lambda v: framework_of(run, v), run.config.reference)
    if not pairs:
        return []
    what = "Capacity" if run.mode == "closed" else "Throughput"
    out = [RatioPanel(f"{what} (req/s), per endpoint", True, _throughput_points(data, pairs))]
    points = []
    for found in equal_load_rates(data):
        by_name = {v.variant: v for v in found.variants}
        for d, f in pairs:
            if d not in by_name or f not in by_name:
                continue
            for metric in openload.SHOWN:
                got = latency_ratio(by_name[d], by_name[f], metric)
                if got is None:
                    continue
                row = f"{tails.label(tails.NAMED[metric])} at {found.rate:,.0f} req/s"
                differ = metric in by_name[d].widened or metric in by_name[f].widened
                note = "the two generators differ here" if differ else ""
                points.append(RatioPoint(row, d, f, got[0], got[1], None, note))
    if points:
        out.append(RatioPanel("Latency at equal offered load (open model)", False, tuple(points)))
    return out


def _panel(ax: Axes, panel: RatioPanel, data: ChartData, pairs: list[tuple[str, str]]) -> None:
    rows = list(dict.fromkeys(p.row for p in panel.points))
    y = {row: i for i, row in enumerate(rows)}
    several = len(pairs) > 1
    for j, (d, f) in enumerate(pairs):
        mine = [p for p in panel.points if (p.variant, p.reference) == (d, f)]
        offset = (j - (len(pairs) - 1) / 2) * 0.25
        colour = data.colour(d) if several else "#333333"
        for p in mine:
            est = p.ratio
            if not math.isfinite(est.value):
                continue
            low = est.low if math.isfinite(est.low) else est.value
            high = est.high if math.isfinite(est.high) else est.value
            yi = y[p.row] + offset
            if p.widened is not None:  # the wider interval behind, thin and grey
                ax.plot(
                    [p.widened.low, p.widened.high],
                    [yi, yi],
                    color="#aaaaaa",
                    linewidth=4,
                    solid_capstyle="butt",
                    zorder=1,
                )
                high = max(high, p.widened.high)
            ax.errorbar(
                [est.value],
                [yi],
                xerr=[[est.value - low], [high - est.value]]
                if p.widened is None
                else [[est.value - est.low], [est.high - est.value]],
                fmt="o",
                color=colour,
                capsize=4,
                zorder=2,
                markerfacecolor=colour if p.significant else "white",
            )
            ax.annotate(
                label(est),
                (high, yi),
                textcoords="offset points",
                xytext=(6, 0),
                va="center",
                ha="left",
                fontsize=8,
                color=colour,
            )
    ax.set_yticks(range(len(rows)), rows, fontsize=8.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_title(panel.title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)


def notes_of(drawn: list[RatioPanel]) -> list[str]:
    """What the chart's marks mean, and each widened or unclaimed ratio in words."""
    notes = [
        "Filled: a significant difference (95 % CI excludes 1, p < 0.05); hollow: not, or "
        "not judged."
    ]
    for panel in drawn:
        for p in panel.points:
            if p.widened is not None:
                notes.append(
                    f"{p.variant} / {p.reference}, {p.row}: grey, the interval widened "
                    f"to {p.widened.low:.2f}–{p.widened.high:.2f} to cover wrk's reading "
                    "(the Locust/wrk cross-check disagrees)."
                )
            if p.note:
                notes.append(f"{p.variant} / {p.reference}, {p.row}: not claimed, {p.note}.")
    return notes


def chart_ratio(data: ChartData) -> Figure:
    run = data.run
    pairs = ratio_pairs(run.variants, lambda v: framework_of(run, v), run.config.reference)
    drawn = panels(data)
    if not drawn:
        raise ChartSkipped("needs a second framework, or --reference and a second variant")
    heights = [len({p.row for p in panel.points}) for panel in drawn]
    fig = figure(11.0, 1.8 + sum(0.36 * h * max(1, len(pairs)) + 1.1 for h in heights))
    axes = np.atleast_1d(fig.subplots(len(drawn), 1, height_ratios=heights or None))
    methods = {p.ratio.method for panel in drawn for p in panel.points}
    # One scale for every panel: the same gap looks the same size everywhere.
    values = [
        x
        for panel in drawn
        for p in panel.points
        for x in (
            p.ratio.value,
            p.ratio.low,
            p.ratio.high,
            *((p.widened.low, p.widened.high) if p.widened else ()),
        )
    ]
    variant, reference = pairs[0] if len(pairs) == 1 else ("the variant", "the reference")
    for ax, panel in zip(axes, drawn, strict=True):
        _panel(ax, panel, data, pairs)
        if panel.higher_is_better:  # above 1 the variant serves more
            ratio_axis(
                ax,
                values,
                better_high=f"{variant} serves more",
                better_low=f"{reference} serves more",
            )
        else:  # above 1 the variant is slower
            ratio_axis(
                ax, values, better_high=f"{reference} faster", better_low=f"{variant} faster"
            )
    names = ", ".join(f"{d} / {f}" for d, f in pairs)
    finish(fig, run, f"Ratio {names}, log axis centred on 1 — {whiskers(methods)}", notes_of(drawn))
    if len(pairs) > 1:
        handles = [
            Line2D([], [], color=data.colour(d), marker="o", linestyle="none", label=f"{d} / {f}")
            for d, f in pairs
        ]
        fig.legend(handles=handles, loc="outside right center", fontsize=8.5, frameon=False)
    return fig
