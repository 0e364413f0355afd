"""The trend of `chatbench check` over time: what ``chatbench history`` draws and tabulates.

One check is a verdict; a row of them shows drift that no single check flags (each step below
the threshold). :func:`build_trend` turns history lines (``chatbench.storing.history``) into plain
series — one median per check per variant × metric at one endpoint — plus the stored baseline's
band, so tests can check the numbers rather than pixels; :func:`draw` plots them (one panel per
metric, one line per variant, failed checks marked) and :func:`to_rich_table` lists the latest.

Change points (``analysing.changepoints``, Apache Otava's E-divisive): every series is searched
for shifts in level, and each is named by the commit where the new level starts, with its size
and interval; the chart draws a dashed line there. A stored-baseline history is searched in
its raw medians and, where recorded, its control-normalised medians; an A/B history in the
chained head/base ratios (a drift of small steps that each passed its own check).

The band is the baseline's per-repetition min–max: the range the baseline run itself covered.
It is what a reader can verify by eye in the baseline file, and a check median outside it is
worth a look even when the gate (which also weighs the candidate's spread) passed.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from rich.table import Table

from chatbench.analysing import changepoints
from chatbench.configuration.endpoints import ALL
from chatbench.configuration.endpoints import short as endpoint_short
from chatbench.errors import UsageError
from chatbench.presenting.chartkit import figure, save, variant_colour
from chatbench.storing.baselines import Summary

MODES = ("baseline", "ab")
DEFAULT_METRICS = ("rps", "p95", "p99")  # what the gate judges by default
BAND_KIND = "per-repetition min–max"
_TITLES = {
    "rps": "Throughput (req/s, higher is better)",
    "p50": "p50 latency (ms)",
    "p95": "p95 latency (ms)",
    "p99": "p99 latency (ms)",
    "error_rate": "Error rate (fraction)",
    "req_per_cpu_s": "Requests per server CPU-second",
}
_FAILED_COLOUR = "#c8102e"


@dataclass(frozen=True)
class CheckPoint:
    """One recorded check, as the x axis and the table show it."""

    index: int  # position in check order (0 = oldest shown)
    date: str  # ISO date as recorded, UTC
    sha: str  # short git sha ("?" when unknown)
    mode: str
    run_id: str
    passed: bool
    regressions: tuple[str, ...]

    @property
    def when(self) -> str:
        """``2026-11-25 11:28`` from the recorded ISO date."""
        return self.date[:16].replace("T", " ")


@dataclass(frozen=True)
class Trend:
    """Plain data behind the history chart: every series aligned with ``checks``."""

    source: Path
    mode: str
    endpoint: str
    metrics: tuple[str, ...]
    variants: tuple[str, ...]
    checks: tuple[CheckPoint, ...]
    series: dict[tuple[str, str], list[float]]  # (variant, metric) → median per check (NaN: none)
    bands: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    baseline_medians: dict[tuple[str, str], float] = field(default_factory=dict)
    baseline_label: str | None = None
    baseline_reps: int = 0
    # (variant, metric) → indices of checks that flagged this variant × endpoint × metric
    regressed: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    # Change points found in the history (``changepoints.detect``), per (variant, metric).
    shifts: dict[tuple[str, str], list[changepoints.Shift]] = field(default_factory=dict)

    @property
    def all_shifts(self) -> list[changepoints.Shift]:
        return [x for key in self.series for x in self.shifts.get(key, [])]

    @property
    def failed(self) -> list[int]:
        """Indices of the checks that did not pass."""
        return [c.index for c in self.checks if not c.passed]

    def band_note(self) -> str:
        if self.mode != "baseline":
            return "A/B checks compare with their base ref in the same run: no stored-baseline band"
        if not self.bands:
            return "no baseline band (no baseline given, or it lacks these series)"
        return (
            f"band: baseline {self.baseline_label} {BAND_KIND} "
            f"(n = {self.baseline_reps} repetitions), dotted: its median"
        )


def short_sha(sha: Any) -> str:
    return str(sha)[:7] if sha else "?"


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def _split(items: Sequence[str] | None) -> list[str]:
    """Repeatable and comma-separated options, flattened."""
    return [x.strip() for item in items or () for x in item.split(",") if x.strip()]


def _parse_regression(name: str) -> tuple[str, str, str] | None:
    """``"fastapi POST /api/chat/messages p95"`` → (variant, endpoint, metric)."""
    parts = name.split(" ")
    if len(parts) < 3:
        return None
    return parts[0], " ".join(parts[1:-1]), parts[-1]


def build_trend(
    entries: Iterable[Mapping[str, Any]],
    *,
    source: Path,
    mode: str = "baseline",
    variants: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    endpoint: str = ALL,
    baseline: Summary | None = None,
    baseline_label: str | None = None,
) -> Trend:
    """The series to draw from history lines, filtered; a usage error for an empty history or
    a filter naming something the history does not hold (the message lists what it does)."""
    entries = [e for e in entries if isinstance(e.get("metrics"), Mapping)]
    if not entries:
        raise UsageError(f"No checks recorded in {source}; run chatbench check first.")
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}.")
    chosen = [e for e in entries if e.get("mode", "baseline") == mode]
    if not chosen:
        present = _names({str(e.get("mode", "baseline")) for e in entries})
        raise UsageError(
            f"No {mode}-mode checks recorded in {source} (it holds {present}); "
            f"pick one with --mode."
        )
    have_variants = {str(v) for e in chosen for v in e["metrics"]}
    wanted_variants = _split(variants) or sorted(have_variants)
    unknown = [v for v in wanted_variants if v not in have_variants]
    if unknown:
        raise UsageError(
            f"Unknown --variant {', '.join(unknown)}; {mode}-mode checks in {source} have "
            f"{_names(have_variants)}."
        )
    have_endpoints = {
        str(ep) for e in chosen for v in wanted_variants for ep in e["metrics"].get(v, {}) or {}
    }
    if endpoint not in have_endpoints:
        raise UsageError(f"Unknown --endpoint {endpoint!r}; choose from {_names(have_endpoints)}.")
    have_metrics = {
        str(m)
        for e in chosen
        for v in wanted_variants
        for m in ((e["metrics"].get(v) or {}).get(endpoint) or {})
    }
    asked = _split(metrics)
    unknown = [m for m in asked if m not in have_metrics]
    if unknown:
        raise UsageError(
            f"Unknown --metric {', '.join(unknown)}; {endpoint} has {_names(have_metrics)}."
        )
    wanted_metrics = asked or [m for m in DEFAULT_METRICS if m in have_metrics]
    wanted_metrics = wanted_metrics or sorted(have_metrics)

    checks = tuple(
        CheckPoint(
            index=i,
            date=str(e.get("date", "")),
            sha=short_sha(e.get("git_sha")),
            mode=mode,
            run_id=str(e.get("run_id", "")),
            passed=bool(e.get("passed")),
            regressions=tuple(str(r) for r in e.get("regressions") or ()),
        )
        for i, e in enumerate(chosen)
    )
    series: dict[tuple[str, str], list[float]] = {}
    for v in wanted_variants:
        for m in wanted_metrics:
            series[(v, m)] = [_median_of(e, v, endpoint, m) for e in chosen]
    regressed: dict[tuple[str, str], list[int]] = {}
    for c in checks:
        for name in c.regressions:
            parsed = _parse_regression(name)
            if parsed and parsed[1] == endpoint and (parsed[0], parsed[2]) in series:
                regressed.setdefault((parsed[0], parsed[2]), []).append(c.index)

    bands: dict[tuple[str, str], tuple[float, float]] = {}
    medians: dict[tuple[str, str], float] = {}
    reps = 0
    if baseline is not None and mode == "baseline":
        import numpy as np

        for v, m in series:
            vals = [
                float(x)
                for x in ((baseline.values.get(v) or {}).get(endpoint) or {}).get(m) or ()
                if math.isfinite(float(x))
            ]
            if vals:
                bands[(v, m)] = (min(vals), max(vals))
                medians[(v, m)] = float(np.median(vals))
                reps = max(reps, len(vals))
    return Trend(
        source=Path(source), mode=mode, endpoint=endpoint, metrics=tuple(wanted_metrics),
        variants=tuple(wanted_variants), checks=checks, series=series, bands=bands,
        baseline_medians=medians, baseline_label=baseline_label, baseline_reps=reps,
        regressed=regressed, shifts=find_shifts(chosen, series, endpoint=endpoint, mode=mode),
    )  # fmt: skip


def find_shifts(
    chosen: Sequence[Mapping[str, Any]],
    series: Mapping[tuple[str, str], list[float]],
    *,
    endpoint: str,
    mode: str,
) -> dict[tuple[str, str], list[changepoints.Shift]]:
    """Change points per (variant, metric): in the raw and normalised medians of baseline
    checks, in the chained head/base ratios of A/B checks (see the module docstring)."""
    shas = [str(e.get("git_sha") or "?") for e in chosen]
    out: dict[tuple[str, str], list[changepoints.Shift]] = {}
    for (v, m), values in series.items():
        found: list[changepoints.Shift] = []
        if mode == "ab":
            ratios = [_ratio_of(e, v, endpoint, m) for e in chosen]
            bases = [e.get("base_sha") for e in chosen]
            chained = changepoints.chain(ratios, shas, [str(b) if b else None for b in bases])
            found += changepoints.detect(
                [level for _, level in chained], [shas[i] for i, _ in chained],
                series=f"{v} {endpoint} {m} chained head/base ratio", metric=m,
            )  # fmt: skip
        else:
            found += changepoints.detect(values, shas, series=f"{v} {endpoint} {m}", metric=m)
            normalised = [_median_of(e, v, endpoint, m, key="normalised") for e in chosen]
            found += changepoints.detect(
                normalised, shas, series=f"{v} {endpoint} {m} normalised", metric=m
            )
        if found:
            out[(v, m)] = found
    return out


def _ratio_of(entry: Mapping[str, Any], variant: str, endpoint: str, metric: str) -> float:
    """The recorded head/base ratio of one A/B check (NaN: none recorded)."""
    ratios = entry.get("ratios")
    if not isinstance(ratios, Mapping):
        return math.nan
    framework = variant.split("@", 1)[0]
    cell = ((ratios.get(framework) or {}).get(endpoint) or {}).get(metric) or {}
    try:
        value = float(cell.get("ratio"))
    except (TypeError, ValueError, AttributeError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def _median_of(
    entry: Mapping[str, Any], variant: str, endpoint: str, metric: str, *, key: str = "metrics"
) -> float:
    figures = entry.get(key)
    if not isinstance(figures, Mapping):
        return math.nan
    value = ((figures.get(variant) or {}).get(endpoint) or {}).get(metric)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def chart_name(trend: Trend) -> str:
    """File stem: ``history-baseline`` (all endpoints) or ``history-ab-post-api-chat-messages``."""
    if trend.endpoint == ALL:
        return f"history-{trend.mode}"
    slug = re.sub(r"[^a-z0-9]+", "-", trend.endpoint.lower()).strip("-")
    return f"history-{trend.mode}-{slug}"


def draw(trend: Trend, out_dir: Path) -> list[Path]:
    """``history_figure`` as PNG + SVG in ``out_dir``; returns their paths."""
    return save(history_figure(trend), Path(out_dir), chart_name(trend))


def shift_label(shift: changepoints.Shift) -> str:
    """A change point's label on the chart: ``shift +12.0% at abc1234``."""
    return f"shift {shift.change:+.1%} at {short_sha(shift.sha)}"


def history_figure(trend: Trend) -> Figure:
    """One panel per metric (shared x: check order, short sha and date as tick labels), one
    line per variant, the baseline band shaded, failed checks shaded red and each flagged
    regression marked ✕."""
    import numpy as np

    n = len(trend.checks)
    fig = figure(max(10.0, min(22.0, 4.0 + 0.45 * n)), 1.0 + 2.6 * len(trend.metrics))
    axes = np.atleast_1d(fig.subplots(len(trend.metrics), 1, sharex=True, squeeze=False)[:, 0])
    x = np.arange(n)
    for ax, metric in zip(axes, trend.metrics, strict=True):
        for i in trend.failed:
            ax.axvspan(i - 0.4, i + 0.4, color=_FAILED_COLOUR, alpha=0.08, zorder=0, linewidth=0)
        for variant in trend.variants:
            colour = variant_colour(variant)
            key = (variant, metric)
            if key in trend.bands:
                low, high = trend.bands[key]
                ax.axhspan(low, high, color=colour, alpha=0.15, zorder=1, linewidth=0)
                ax.axhline(trend.baseline_medians[key], color=colour, linestyle=":", lw=1)
            y = np.asarray(trend.series[key], dtype=float)
            ax.plot(x, y, marker="o", markersize=4, color=colour, label=variant, zorder=3)
            hits = trend.regressed.get(key, [])
            if hits:
                ax.plot(x[hits], y[hits], linestyle="none", marker="X", markersize=10,
                        color=_FAILED_COLOUR, zorder=4)  # fmt: skip
        for variant in trend.variants:
            for shift in trend.shifts.get((variant, metric), []):
                ax.axvline(shift.index - 0.5, color=variant_colour(variant), linestyle="--",
                           lw=1.2, zorder=2)  # fmt: skip
                ax.annotate(
                    shift_label(shift),
                    (shift.index - 0.5, 1.0), xycoords=("data", "axes fraction"),
                    fontsize=7.5, rotation=90, va="top", ha="right",
                    color=variant_colour(variant),
                )  # fmt: skip
        ax.set_title(_TITLES.get(metric, metric), fontsize=10, loc="left")
        ax.grid(axis="y", alpha=0.3)
        ax.margins(x=0.02)
    step = max(1, math.ceil(n / 30))  # at most ~30 tick labels
    ticks = x[::step]
    labels = [f"{c.sha}\n{c.date[5:10]}" for c in trend.checks[::step]]
    axes[-1].set_xticks(ticks, labels, fontsize=7.5)
    for tick, c in zip(axes[-1].get_xticklabels(), trend.checks[::step], strict=True):
        if not c.passed:
            tick.set_color(_FAILED_COLOUR)
    axes[-1].set_xlabel("check (oldest → newest): git sha, date; red = failed check")
    handles, labels_ = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels_, loc="outside lower center", ncols=len(handles),
                   fontsize=9, frameon=False)  # fmt: skip
    subtitle = textwrap.fill(
        f"line: median per check · {trend.band_note()} · red ✕: flagged regression · "
        "dashed: change point (E-divisive, Apache Otava)",
        width=110,
    )
    fig.suptitle(
        f"chatbench check history — {trend.mode} mode, {endpoint_short(trend.endpoint)}, "
        f"{n} check(s)\n{subtitle}",
        fontsize=10.5,
    )
    return fig


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def to_rich_table(trend: Trend, last: int = 10):
    """The latest ``last`` checks: date, sha, mode, verdict and each chosen variant × metric."""
    shown = trend.checks[-last:] if last > 0 else ()
    table = Table(
        title=f"Last {len(shown)} of {len(trend.checks)} {trend.mode}-mode checks "
        f"({trend.endpoint}; medians)",
    )
    table.add_column("date (UTC)", no_wrap=True)
    table.add_column("sha", no_wrap=True)
    table.add_column("mode")
    table.add_column("passed")
    keys = list(trend.series)
    for variant, metric in keys:
        table.add_column(f"{variant}\n{metric}", justify="right")
    for c in shown:
        verdict = "[green]yes[/]" if c.passed else "[bold red]no[/]"
        cells = [_fmt(trend.series[k][c.index]) for k in keys]
        table.add_row(c.when, c.sha, c.mode, verdict, *cells)
    return table
