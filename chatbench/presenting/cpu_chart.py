""" "Where the CPU goes": the chart, the flame graphs and the speedscope files of a profiled run.

``draw`` writes, for a run made with ``--cpu-profile``: ``charts/cpu_layers.png``/``.svg``
(left: a stacked bar per variant of CPU milliseconds per request by layer; right, with two or
more variants: each layer's difference from the first variant, the gap between them layer by
layer), and per variant ``profiles/<variant>/flame.svg`` and ``speedscope.json``
(``presenting.flamegraph``), plus ``profiles/layers.csv``. A run without profiles gets none
of them (stale ones are removed). The report's section reads the same ``layer_table``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import markupsafe
import numpy as np
from matplotlib.figure import Figure

from chatbench.analysing import stats
from chatbench.analysing.cpu_profile import VariantLayers, differences, layer_table, write_csv
from chatbench.analysing.layers import LABELS, LAYER_KEYS, parse_collapsed
from chatbench.presenting import svginline
from chatbench.presenting.chartkit import figure, finish, save
from chatbench.presenting.flamegraph import (
    FLAME_SVG,
    LAYER_COLOURS,
    SPEEDSCOPE_JSON,
    draw_flamegraph,
    write_speedscope,
)
from chatbench.storing.rundir import Run

log = logging.getLogger(__name__)

CPU_CHART = "cpu_layers"
TITLE = "Where the CPU goes"
CAPTION = (
    "CPU milliseconds per request by layer: each layer's share of py-spy's samples in the "
    "variant's profiled repetition × the service's CPU per request in the measured "
    "repetitions. Right: each layer's difference from the first variant."
)


def chart(run: Run, table: list[VariantLayers]) -> Figure:
    """The stacked bars and, with two or more variants, the differences."""
    gaps = differences(table)
    fig = figure(12.5 if gaps else 8.0, 0.9 + 0.7 * max(len(table), len(LAYER_KEYS) * 0.6))
    axes = np.atleast_1d(fig.subplots(1, 2 if gaps else 1, width_ratios=[1.2, 1] if gaps else None))
    ax = axes[0]
    names = [row.variant for row in table]
    y = np.arange(len(table))[::-1]
    left = np.zeros(len(table))
    for key in LAYER_KEYS:
        widths = np.array([row.ms[key] for row in table])
        widths = np.where(np.isfinite(widths), widths, 0.0)
        ax.barh(y, widths, left=left, color=LAYER_COLOURS[key], label=key, height=0.6)
        left += widths
    for yi, total in zip(y, left, strict=True):
        ax.annotate(
            f"{total:.2f} ms",
            (total, yi),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8.5,
        )
    ax.set_yticks(y, names)
    ax.set_xlabel("CPU ms per request")
    ax.set_xlim(0, max(left.max() * 1.18, 1e-3) if len(left) else 1)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    if gaps:
        dx = axes[1]
        base = table[0].variant
        n = len(gaps)
        ys = np.arange(len(LAYER_KEYS))[::-1]
        height = 0.8 / n
        for i, (variant, gap) in enumerate(gaps.items()):
            values = [gap[k] if math.isfinite(gap[k]) else 0.0 for k in LAYER_KEYS]
            offset = (i - (n - 1) / 2) * height
            dx.barh(
                ys - offset,
                values,
                height=height * 0.9,
                color=[LAYER_COLOURS[k] for k in LAYER_KEYS],
                edgecolor="black" if n > 1 and i else None,
                label=f"{variant} − {base}",
            )
            for yi, v in zip(ys - offset, values, strict=True):
                dx.annotate(
                    f"{v:+.2f}",
                    (v, yi),
                    xytext=(3 if v >= 0 else -3, 0),
                    textcoords="offset points",
                    va="center",
                    ha="left" if v >= 0 else "right",
                    fontsize=7.5,
                )
        dx.axvline(0, color="black", linewidth=0.8)
        dx.set_yticks(ys, list(LAYER_KEYS))
        dx.set_xlabel(f"ms per request, minus {base}'s")
        dx.set_title(" ; ".join(f"{v} − {base}" for v in gaps), fontsize=9)
        lo, hi = dx.get_xlim()
        pad = 0.25 * max(abs(lo), abs(hi), 1e-3)
        dx.set_xlim(lo - pad, hi + pad)
        dx.grid(axis="x", alpha=0.3)
        dx.set_axisbelow(True)
    finish(fig, run, f"{TITLE} — CPU ms per request by layer")
    return fig


def draw(run_dir: Path, run: Run) -> list[Path]:
    """Every file of the section (see the module docstring); [] for a run without profiles."""
    table = layer_table(run)
    if not table:
        for fmt in ("png", "svg"):
            (run_dir / "charts" / f"{CPU_CHART}.{fmt}").unlink(missing_ok=True)
        return []
    written = []
    for row in table:
        stacks = parse_collapsed(row.stacks.read_text(encoding="utf-8", errors="replace"))
        title = f"{row.variant}: CPU samples (py-spy --gil)"
        written.append(draw_flamegraph(stacks, row.stacks.parent / FLAME_SVG, title))
        written.append(write_speedscope(stacks, row.stacks.parent / SPEEDSCOPE_JSON, row.variant))
    csv_path = write_csv(run_dir, table)
    if csv_path is not None:
        written.append(csv_path)
    written += save(chart(run, table), run_dir / "charts", CPU_CHART)
    return written


def section(run_dir: Path, run: Run) -> dict[str, Any] | None:
    """The report's "Where the CPU goes" (None: the run was not profiled)."""
    profile = run.record.cpu_profile
    if profile is None:
        return None
    table = layer_table(run)
    gaps = differences(table)
    drawn = run_dir / "charts" / f"{CPU_CHART}.svg"
    rows = []
    for key in LAYER_KEYS:
        cells = [f"{row.ms[key]:.3f} ({100 * row.layers.shares[key]:.1f} %)" for row in table]
        rows.append(
            {
                "layer": key,
                "label": LABELS[key],
                "cells": cells,
                "gaps": [f"{gap[key]:+.3f}" for gap in gaps.values()],
            }
        )
    variants = [
        {
            "name": row.variant,
            "cpu_ms": fmt_estimate(row.cpu_ms),
            "samples": row.samples,
            "errors": row.errors,
            "seconds": f"{row.seconds:.1f}",
            "system_share": "—"
            if not math.isfinite(row.system_share)
            else f"{100 * row.system_share:.0f} %",
            "flame": (row.stacks.parent / FLAME_SVG).relative_to(run_dir).as_posix(),
            "speedscope": (row.stacks.parent / SPEEDSCOPE_JSON).relative_to(run_dir).as_posix(),
            "stacks": row.stacks.relative_to(run_dir).as_posix(),
        }
        for row in table
    ]
    base = table[0].variant if table else ""
    return {
        "unavailable": profile.unavailable,
        "how": (
            f"{profile.tool}, {profile.rate_hz} samples per second per process, GIL holders only "
            f"(--gil; idle threads left out), during {profile.repetition}. Each sample goes to "
            "the layer of its innermost frame that belongs to one; a layer's CPU per request is "
            "its share of the samples × the service's CPU per request in the measured "
            "repetitions."
        ),
        "command": profile.command,
        "variants": variants,
        "rows": rows,
        "gap_titles": [f"{v} − {base}" for v in gaps],
        "figure": markupsafe.Markup(svginline.figure_html(drawn, "c-cpu", TITLE))
        if table and (drawn.is_file() or drawn.with_suffix(".png").is_file())
        else None,
        "caption": CAPTION,
    }


def fmt_estimate(est: stats.Estimate) -> str:
    """``2.13 ms [1.98–2.31] (n = 3, 95 % CI)``, the bounds named as ``stats`` names them."""
    if not math.isfinite(est.value):
        return "—"
    text = f"{est.value:.3f} ms"
    if stats.has_interval(est) and est.method != stats.NONE:
        kind = "range of 2" if est.method == stats.RANGE else "95 % CI"
        return f"{text} [{est.low:.3f}–{est.high:.3f}] (n = {est.n}, {kind})"
    return f"{text} (n = {est.n})"
