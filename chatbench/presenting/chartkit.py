"""What every chart of chatbench is drawn with: colours, figures, whiskers, atomic saving.

Figures are built on ``matplotlib.figure.Figure`` directly (Agg, no pyplot global state).
A run's charts colour each framework with one family and its variants with shades of it
(``palette``, ``ChartData.colour``); elsewhere a variant has one fixed colour (``variant_colour``). Whiskers follow ``stats``: a
95 % CI (``t95-log``; for ratios ``welch-t-log``) from 3 repetitions, the range of 2
repetitions with 2, none with 1, and each title says which (``bounds_label``), so a range is
never drawn under the name of a confidence interval.
"""

from __future__ import annotations

import functools
import math
import textwrap
import zlib
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator  # noqa: E402

from chatbench.analysing.stats import CI_METHODS, RANGE  # noqa: E402
from chatbench.analysing.tables import (  # noqa: E402
    repetition_metrics,
    resource_series,
    summarise,
    time_series,
)
from chatbench.presenting import chartread  # noqa: E402
from chatbench.storing.atomic import atomic_output  # noqa: E402
from chatbench.storing.rundir import Run  # noqa: E402

UNFAIR_NOTE = "fairness violations allowed by --allow-unfair"
_FIXED_COLOURS = {
    "django": "#0b7a53",
    "django-async": "#72c25e",
    "fastapi": "#1f5fbf",
    "fastapi-sync": "#e08a00",
    "fastapi-seed": "#c8102e",
}
_EXTRA_COLOURS = (
    "#7b3fa0",
    "#8c564b",
    "#d9569e",
    "#12a4b5",
    "#a3a317",
    "#4d4d4d",
    "#2f3f8f",
    "#b5651d",
)
_DPI = 110
matplotlib.rcParams["svg.hashsalt"] = "chatbench"  # stable SVG ids: identical data, identical file
# Text stays text in the SVG: smaller than glyph outlines, and read back by the chart tests
# (``chartread``).
matplotlib.rcParams["svg.fonttype"] = "none"
# matplotlib's own font first and alone: each SVG text names it, not a list of ten.
matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]


class ChartSkipped(Exception):
    """The data a chart needs is not in this run; the message says what is missing."""


def variant_colour(name: str) -> str:
    """The variant's colour in every chart: fixed for the known variants, else a stable hash."""
    if name in _FIXED_COLOURS:
        return _FIXED_COLOURS[name]
    return _EXTRA_COLOURS[zlib.crc32(name.encode("utf-8")) % len(_EXTRA_COLOURS)]


# One colour family per framework (matplotlib's sequential maps); shades tell its variants apart.
_FAMILIES = {"django": "Greens", "fastapi": "Blues"}
_SPARE_FAMILIES = ("Oranges", "Purples", "Reds", "Greys")


def framework_of(run: Run, variant: str) -> str:
    """The framework the run recorded for a variant (its spec's), else the variant's name."""
    info = run.record.variants.get(variant)
    return (info.framework if info is not None and info.framework else None) or variant


def palette(run: Run) -> dict[str, str]:
    """variant → colour: one family per framework, a shade per variant of it in run order
    (darkest first), so a suite's six variants read as two families of three."""
    by_framework: dict[str, list[str]] = {}
    for v in run.variants:
        by_framework.setdefault(framework_of(run, v), []).append(v)
    spare = iter(_SPARE_FAMILIES)
    out: dict[str, str] = {}
    for framework, names in by_framework.items():
        family = _FAMILIES.get(framework) or next(spare, None)
        if family is None:
            out.update({n: variant_colour(n) for n in names})
            continue
        cmap = matplotlib.colormaps[family]
        for i, name in enumerate(names):
            shade = 0.85 - 0.45 * i / (len(names) - 1) if len(names) > 1 else 0.8
            out[name] = matplotlib.colors.to_hex(cmap(shade))
    return out


def variant_ticks(ax: Axes, x: Sequence[float] | np.ndarray, labels: Sequence[str]) -> None:
    """Variant names under bars, slanted when they would otherwise run into each other."""
    crowded = len(labels) > 3 or max((len(t) for t in labels), default=0) > 14
    if crowded:
        ax.set_xticks(x, labels, rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
    else:
        ax.set_xticks(x, labels, rotation=0, ha="center")


class ChartData:
    """What the charts of one run draw from, each table computed once on first use."""

    def __init__(self, run: Run) -> None:
        self.run = run

    @functools.cached_property
    def colours(self) -> dict[str, str]:
        return palette(self.run)

    def colour(self, variant: str) -> str:
        """The variant's colour in this run's charts (``palette``)."""
        return self.colours.get(variant) or variant_colour(variant)

    @functools.cached_property
    def reps(self) -> pd.DataFrame:
        return repetition_metrics(self.run)

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        return summarise(self.reps)

    @functools.cached_property
    def series(self) -> pd.DataFrame:
        return time_series(self.run)

    @functools.cached_property
    def resources(self) -> pd.DataFrame:
        return resource_series(self.run)

    def row(
        self, variant: str, endpoint: str, metric: str
    ) -> tuple[float, float, float, int] | None:
        s = self.summary
        hit = s[(s["variant"] == variant) & (s["endpoint"] == endpoint) & (s["metric"] == metric)]
        if hit.empty or not math.isfinite(float(hit["value"].iloc[0])):
            return None
        r = hit.iloc[0]
        return float(r["value"]), float(r["ci_low"]), float(r["ci_high"]), int(r["n"])

    def values(self, variant: str, endpoint: str, metric: str) -> np.ndarray:
        r = self.reps
        hit = r[(r["variant"] == variant) & (r["endpoint"] == endpoint) & (r["metric"] == metric)]
        return hit["value"].to_numpy(dtype=float)


def figure(width: float = 11.0, height: float = 5.5) -> Figure:
    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def finish(fig: Figure, run: Run, title: str, notes: Sequence[str] = ()) -> None:
    """The title (wrapped to the figure's width, never clipped), the footer naming the run,
    the unfair-run mark and ``notes``: what the chart leaves out and why (a percentile not
    measured, …), one line each above the footer, so nothing left out goes unsaid."""
    # Bold 13 pt: about 8 characters an inch.
    width = int(fig.get_figwidth() * 8)
    fig.suptitle(textwrap.fill(title, width), fontsize=13, fontweight="bold")
    note_lines = [
        line for note in notes for line in textwrap.wrap(note, int(fig.get_figwidth() * 15))
    ]
    n_reps = max((r.repetition for r in run.repetitions), default=0)
    footer = (
        f"run {run.run_id} · scenario {run.scenario} · mode {run.mode} · {n_reps} repetition(s)"
    )
    fig.text(0.995, 0.002, footer, ha="right", va="bottom", fontsize=7.5, color="#666666")
    line = 0.16 / fig.get_figheight()  # one 8 pt line and its spacing, of the figure's height
    lines = 1
    if note_lines:
        fig.text(
            0.005,
            0.004 + line,
            "\n".join(note_lines),
            ha="left",
            va="bottom",
            fontsize=8,
            color="#444444",
            linespacing=1.3,
        )
        lines += len(note_lines)
    if run.record.fairness.overridden:
        fig.text(
            0.005,
            0.004 + lines * line,  # a line above the footer and notes
            UNFAIR_NOTE,
            ha="left",
            va="bottom",
            fontsize=9,
            color="red",
            fontweight="bold",
        )
        lines += 1
    # Room at the bottom for the footer, notes and mark.
    bottom = 0.012 + lines * line * 1.05
    fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))


def yerr(rows: Sequence[tuple[float, float, float, int] | None]) -> np.ndarray:
    lo = [max(0.0, r[0] - r[1]) if r else 0.0 for r in rows]
    hi = [max(0.0, r[2] - r[0]) if r else 0.0 for r in rows]
    return np.nan_to_num(np.array([lo, hi]))


def use_log(values: Sequence[float] | np.ndarray) -> bool:
    """Log scale when positive values span more than one decade."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr) & (arr > 0)]
    return arr.size > 1 and arr.max() / arr.min() > 10.0


def set_latency_scale(ax: Axes, values: Sequence[float] | np.ndarray) -> None:
    """Log y (with plain-number ticks, not 4×10¹) when the values span a decade, else from 0."""
    if use_log(values):
        log_latency_axis(ax)
    else:
        ax.set_ylim(bottom=0)


def log_latency_axis(ax: Axes) -> None:
    """A log y axis labelled 1, 2, 5, 10, 20, 50 … in plain numbers (not 10¹), unlabelled
    minor ticks between: labels that cannot run into each other."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(3.0, 4.0, 6.0, 7.0, 8.0, 9.0)))
    ax.yaxis.set_minor_formatter(NullFormatter())


def save(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """PNG + SVG, each through a temporary file and os.replace (never half-written)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chartread.tag(fig)
    written = []
    for fmt, metadata in (("png", {"Software": None}), ("svg", {"Date": None})):
        target = out_dir / f"{name}.{fmt}"
        with atomic_output(target) as fh:
            fig.savefig(fh, format=fmt, metadata=metadata)
        written.append(target)
    return written


def legend(ax: Axes, **kwargs: object) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8.5, frameon=False, **kwargs)  # type: ignore[arg-type]


def legend_outside(fig: Figure, ax: Axes) -> None:
    """Legend right of the plots, where it cannot hide a line (centred: at the top it would run
    into the figure's title)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", fontsize=8.5, frameon=False)


def n_label(data: ChartData) -> str:
    ns = sorted({int(n) for n in data.summary["n"].dropna()} - {0})
    if not ns:
        return "no repetitions"
    return f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]}"


def whiskers(methods: set[str]) -> str:
    """What the whiskers of rows with these ``stats`` methods are."""
    has_ci, has_range = bool(methods & CI_METHODS), RANGE in methods
    if has_ci and has_range:
        return "whiskers: 95 % CI from 3 repetitions, range of 2 with 2"
    if has_ci:
        return "whiskers: 95 % CI"
    if has_range:
        return "whiskers: range of 2, not a CI"
    return "no whiskers (one repetition)"


def bounds_label(data: ChartData) -> str:
    """The title's account of the whiskers and n, from the summary's ``interval`` column."""
    return f"{whiskers(set(data.summary['interval'].dropna()))}; {n_label(data)}"


# Ticks of a ratio axis: symmetric around 1 on a log scale (2× and 0.5× equally far from 1).
_RATIO_TICKS = (0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0)


def ratio_axis(ax: Axes, values: Sequence[float], *, better_high: str, better_low: str) -> None:
    """A log x axis centred on 1 (limits symmetric in log space, so 2× and 0.5× sit equally far
    from it), ticks as ``2×``, a dashed line at 1 and the better direction named under each
    side: ``better_low`` left of 1, ``better_high`` right of it."""
    finite = [v for v in values if math.isfinite(v) and v > 0] or [1.0]
    reach = max(abs(math.log(v)) for v in [*finite, 1.1]) * 1.25
    ax.set_xscale("log")
    ax.set_xlim(math.exp(-reach), math.exp(reach))
    shown = [t for t in _RATIO_TICKS if math.exp(-reach) <= t <= math.exp(reach)]
    while len(shown) > 7:  # keep every other tick, always 1
        middle = shown.index(1.0)
        shown = shown[middle % 2 :: 2]
    ax.set_xticks(shown, [f"{t:g}×" for t in shown])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.axvline(1.0, color="#777777", linestyle="--", linewidth=1)
    ax.set_xlabel(f"← {better_low}     1 = equal     {better_high} →")


# HdrHistogram's percentile spectrum: x = 1 / (1 − q) on a log axis, so p90, p99 and p99.9
# are equally spaced and each step to the right is ten times rarer.
SPECTRUM_TICKS = {50.0: "50 %", 90.0: "90 %", 99.0: "99 %", 99.9: "99.9 %", 99.99: "99.99 %"}


def spectrum_x(percentile: float) -> float:
    """Where a percentile sits on a spectrum axis: 1 / (1 − q)."""
    return 1.0 / (1.0 - percentile / 100.0)


def spectrum_axis(ax: Axes, percentiles: Sequence[float]) -> None:
    """A log x axis of percentiles in HdrHistogram's convention (``spectrum_x``)."""
    ax.set_xscale("log")
    top = max([*percentiles, 99.0])
    ticks = [q for q in SPECTRUM_TICKS if q <= top + 1e-9]
    ax.set_xticks([spectrum_x(q) for q in ticks], [SPECTRUM_TICKS[q] for q in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(spectrum_x(min(percentiles, default=50.0)) / 2.2, spectrum_x(top) * 2.2)
    ax.set_xlabel("Percentile (x: 1 / (1 − q), log)")
