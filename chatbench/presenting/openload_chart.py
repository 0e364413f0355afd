"""The open-model charts of a run: latency at equal offered load, and the SLO search.

``equal_load``: one panel per offered rate; per variant, its percentiles from the intended send
time (``analysing.openload``) as points with whiskers on a log latency axis, placed on
HdrHistogram's percentile axis (x = 1 / (1 − q)). A percentile is drawn only where
``VariantLatency.percentiles`` has it, which holds only what the windows can hold
(``analysing.tails``); every other one is named in a note under the chart with the reason. A
variant that did not keep the rate is drawn as ▲ at its lower bound, never as a figure.
``slo``: every window of each variant (the objective's percentile against the offered rate:
filled kept, hollow missed, × not measured), the objective as a dashed line, and each
variant's answer (``analysing.slo``'s bracket) as a line at the rate it keeps with a band up
to the rate it misses; the legend states each answer in numbers.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
from matplotlib.figure import Figure

from chatbench.analysing import openload, tails
from chatbench.analysing import slo as slo_answer
from chatbench.presenting.chartkit import (
    ChartData,
    ChartSkipped,
    figure,
    finish,
    log_latency_axis,
    spectrum_axis,
    spectrum_x,
    whiskers,
)
from chatbench.presenting.equal_load_answer import not_measured
from chatbench.presenting.verdict_cells import short_reason

EQUAL_LOAD_CHART = "equal_load"
SLO_CHART = "slo"
OVERLOADED = "overloaded: ≥ lower bound"


def equal_load_rates(data: ChartData) -> list[openload.RateLatency]:
    """The equal-load rates the chart draws, lowest first."""
    section = data.run.record.equal_load
    if section is None:
        return []
    found = [
        r for p in section.phases if (r := openload.rate_latency(data.run.path, p)) is not None
    ]
    return sorted(found, key=lambda r: r.rate)


def lower_bounds(v: openload.VariantLatency) -> dict[str, float]:
    """An overloaded variant's lower bound per percentile, only where its overloaded windows
    can hold that percentile: a tail the window cannot hold bounds nothing."""
    out = {}
    for metric in openload.SHOWN:
        held = [
            w.values[metric]
            for w in v.windows
            if w.overloaded and metric in w.values and w.holdings[metric].ok
        ]
        if held:
            out[metric] = min(held)
    return out


def point_label(value: float) -> str:
    """A drawn percentile's value label: ``6.5`` (ms)."""
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def chart_equal_load(data: ChartData) -> Figure:
    run = data.run
    section = run.record.equal_load
    rates = equal_load_rates(data)
    if not rates:
        raise ChartSkipped("the run measured no latency at equal offered load")
    metrics = list(openload.SHOWN)
    fig = figure(max(7.5, 4.8 * len(rates)), 5.2)
    axes = np.atleast_1d(fig.subplots(1, len(rates), sharey=True))
    methods: set[str] = set()
    notes: list[str] = []
    labelled: set[str] = set()
    for ax, found in zip(axes, rates, strict=True):
        n = len(found.variants)
        for i, v in enumerate(found.variants):
            shift = 1 + 0.07 * (i - (n - 1) / 2)  # side by side on the log x axis
            colour = data.colour(v.variant)
            side = "right" if i < (n - 1) / 2 else "left"
            if v.kept_up:
                drawn = [m for m in metrics if m in v.percentiles]
                est = [v.percentiles[m] for m in drawn]
                methods |= {e.method for e in est}
                xs = [spectrum_x(tails.NAMED[m]) * shift for m in drawn]
                ys = [e.value for e in est]
                err = np.array(
                    [
                        [max(0.0, e.value - e.low) if math.isfinite(e.low) else 0.0 for e in est],
                        [max(0.0, e.high - e.value) if math.isfinite(e.high) else 0.0 for e in est],
                    ]
                )
                ax.errorbar(
                    xs,
                    ys,
                    yerr=err,
                    fmt="o",
                    color=colour,
                    capsize=3,
                    markersize=5,
                    label=None if v.variant in labelled else v.variant,
                )
                labelled.add(v.variant)
            else:
                bounds = lower_bounds(v)
                xs = [spectrum_x(tails.NAMED[m]) * shift for m in bounds]
                ys = list(bounds.values())
                name = f"{v.variant} ({OVERLOADED})"
                ax.plot(
                    xs,
                    ys,
                    linestyle="none",
                    marker="^",
                    markersize=7,
                    color=colour,
                    markerfacecolor="white",
                    label=None if name in labelled else name,
                )
                labelled.add(name)
                notes.append(
                    f"{found.rate:,.0f} req/s: {v.variant} did not keep the rate "
                    f"({v.overloaded} of {v.n} windows overloaded); ▲ lower bounds."
                )
            if n <= 2:  # two variants: labels outwards, where they cannot meet
                for x, y in zip(xs, ys, strict=True):
                    ax.annotate(
                        point_label(y),
                        (x, y),
                        textcoords="offset points",
                        xytext=(-6 if side == "right" else 6, 0),
                        va="center",
                        ha="right" if side == "right" else "left",
                        fontsize=7.5,
                        color=colour,
                    )
        for metric in metrics:
            said = not_measured([v for v in found.variants if v.kept_up], metric)
            if said:
                notes.append(f"{found.rate:,.0f} req/s: {said}.")
        for v in found.variants:
            for metric, why in v.widened.items():
                notes.append(
                    f"{found.rate:,.0f} req/s: {v.variant}'s "
                    f"{tails.label(tails.NAMED[metric])} interval widened to cover the "
                    f"independent generator ({why})."
                )
        spectrum_axis(ax, [tails.NAMED[m] for m in metrics])
        of = f" of {section.slowest}'s capacity" if section and section.slowest else ""
        ax.set_title(
            f"{found.rate:,.0f} req/s offered to each\n({100 * found.fraction:g} %{of})",
            fontsize=10,
        )
        ax.grid(alpha=0.3, which="both")
    log_latency_axis(axes[0])
    axes[0].set_ylabel("Latency from the intended send time (ms)")
    handles, names = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in names:
                handles.append(h)
                names.append(label)
    fig.legend(handles, names, loc="outside right center", fontsize=8.5, frameon=False)
    finish(fig, run, f"Latency at equal offered load — {whiskers(methods)}", notes)
    return fig


def answer_label(v: slo_answer.VariantSlo) -> str:
    """A variant's SLO answer as its legend entry says it."""
    b = v.bracket
    if not b.stable or b.low is None:
        why = v.why_not or "no stable answer"
        head, _, rest = why.partition(": ")
        short = f"{head}: {short_reason(rest)}" if head == "not measured" else why
        return textwrap.fill(f"{v.variant}: {short}", 60)
    if v.at_ceiling:
        return f"{v.variant}: keeps it up to its capacity, {b.low:,.0f} req/s"
    high = f", misses {b.high:,.0f}" if b.high is not None else ""
    return f"{v.variant}: keeps {b.low:,.0f} req/s{high}"


def chart_slo(data: ChartData) -> Figure:
    run = data.run
    section = run.record.slo
    answer = slo_answer.slo_answer(run.path, run.record)
    if section is None or answer is None or not answer.variants:
        raise ChartSkipped("the run searched for no capacity under a latency objective")
    fig = figure(12.0, 5.4)
    ax = fig.subplots()
    values: list[float] = [float(section.bound_ms)]
    styles = (
        (slo_answer.KEPT, "o", True),
        (slo_answer.MISSED, "o", False),
        (slo_answer.NOT_MEASURED, "x", True),
    )
    for v in answer.variants:
        colour = data.colour(v.variant)
        for outcome, marker, filled in styles:
            chosen = [w for w in v.windows if w.outcome == outcome and w.value_ms is not None]
            if not chosen:
                continue
            edges = {} if marker == "x" else {"edgecolors": colour}  # an x has no edge
            ax.scatter(
                [w.rate for w in chosen],
                [float(w.value_ms) for w in chosen],
                marker=marker,
                facecolors=colour if filled else "none",
                s=36,
                color=colour if marker == "x" else None,
                label=f"{v.variant}: {outcome}",
                **edges,
            )
            values += [float(w.value_ms) for w in chosen]
        b = v.bracket
        if b.stable and b.low is not None:
            high = b.high if b.high is not None else b.low
            ax.axvline(b.low, color=colour, linewidth=1.5, label=answer_label(v))
            if high > b.low:
                ax.axvspan(b.low, high, color=colour, alpha=0.12)
        else:
            ax.plot([], [], color=colour, linestyle=":", label=answer_label(v))
    ax.axhline(
        float(section.bound_ms),
        color="#c8102e",
        linestyle="--",
        linewidth=1.2,
        label=f"objective p{section.percentile:g} ≤ {section.bound_ms:g} ms",
    )
    finite = [x for x in values if math.isfinite(x) and x > 0]
    if finite and max(finite) / min(finite) > 10:
        log_latency_axis(ax)
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlabel("Offered rate (requests/s, open model)")
    ax.set_ylabel(f"p{section.percentile:g} from the intended send time (ms)")
    ax.grid(alpha=0.3, which="both")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    finish(
        fig,
        run,
        f"Capacity within p{section.percentile:g} ≤ {section.bound_ms:g} ms — "
        "every window; line: the rate kept, band: up to the rate missed",
    )
    return fig
