"""``chatbench compare``, rendered: the terminal table, ``compare.md``, ``compare.json``, its chart.

``compare.json`` is a format of its own (``COMPARE_FORMAT_VERSION``; 2: ``interval``, the
stats method, replaced ``source``; rows not judged are included).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.table import Table

from chatbench.analysing import stats
from chatbench.analysing.compare import Change, Comparison
from chatbench.analysing.stats import ALPHA, MIN_CI_N, Verdict
from chatbench.configuration.endpoints import ALL
from chatbench.presenting.compare_chart import draw_compare_changes
from chatbench.presenting.formatting import fmt_number
from chatbench.storing.atomic import json_safe

COMPARE_FORMAT_VERSION = 2
CHART_STEM = "compare_changes"
_VERDICT_STYLE = {Verdict.SLOWER: "bold red", Verdict.FASTER: "bold green"}


def _endpoint_label(endpoint: str) -> str:
    return "all endpoints" if endpoint == ALL else endpoint


def _fmt_value(x: float) -> str:
    """The report's number format, with two decimals below 1 so the A/B columns stay aligned."""
    return fmt_number(x, decimals_below_one=2)


def fmt_change(c: Change) -> str:
    """``+12.3 % [+8.1, +16.0]`` (95 % CI), ``+12.3 % (range +5.0 … +20.0)`` (2 a side), or
    ``+12.3 % (no interval)``."""
    if not math.isfinite(c.change):
        return "—"
    bounds = math.isfinite(c.ci_low) and math.isfinite(c.ci_high)
    if c.interval == stats.RANGE and bounds:
        return f"{c.change * 100:+.1f} % (range {c.ci_low * 100:+.1f} … {c.ci_high * 100:+.1f})"
    if c.interval not in stats.CI_METHODS or not bounds:
        return f"{c.change * 100:+.1f} % (no interval)"
    return f"{c.change * 100:+.1f} % [{c.ci_low * 100:+.1f}, {c.ci_high * 100:+.1f}]"


def verdict_text(c: Change) -> str:
    """The verdict in words; a row without a real interval says why it is not judged."""
    if c.judged:
        return c.verdict.value
    return f"{c.verdict.value} (n = {min(c.n_base, c.n_new)})"


def change_header(result: Comparison) -> str:
    """The change column's title: names only the kinds of interval the rows have."""
    kinds = {c.interval for c in result.changes}
    has_ci, has_range = bool(kinds & stats.CI_METHODS), stats.RANGE in kinds
    if has_ci and has_range:
        return "change [95 % CI] or (range)"
    if has_range:
        return "change (range)"
    return "change [95 % CI]" if has_ci else "change"


def _headline(result: Comparison) -> str:
    n_slow, n_fast = len(result.regressions), len(result.improvements)
    unjudged = len(result.not_judged)
    if result.changes and unjudged == len(result.changes):
        return f"Nothing judged: fewer than {MIN_CI_N} repetitions a side (ranges shown)."
    tail = f" {unjudged} not judged (fewer than {MIN_CI_N} repetitions a side)." if unjudged else ""
    if not n_slow and not n_fast:
        return "No significant change anywhere." + tail
    return f"{n_slow} significantly slower, {n_fast} significantly faster." + tail


def method_line(result: Comparison) -> str:
    """How every change was computed and judged, in one sentence (also in compare.json)."""
    return (
        "change = B/A − 1 of the geometric means over repetitions; 95 % CI and p from Welch's "
        f"t-test on the log values (≥ {MIN_CI_N} repetitions a side); significant when p < "
        f"{ALPHA:g} and |change| ≥ {result.threshold * 100:.0f} %; with 2 repetitions on a "
        "side, the range of the ratios, not judged."
    )


def to_rich_table(result: Comparison) -> Table:
    """The terminal table (rows with a verdict are coloured)."""
    table = Table(
        title=f"compare {result.run_a} (A) → {result.run_b} (B)",
        caption=f"{_headline(result)}\n{method_line(result)}"
        + "".join(f"\nnote: {n}" for n in result.notes),
    )
    header = change_header(result)
    for col in ("variant", "endpoint", "metric", "A", "B", header, "n", "verdict"):
        table.add_column(col, justify="right" if col in ("A", "B", "n") else "left")
    for c in result.changes:
        style = _VERDICT_STYLE.get(c.verdict, "")
        text = verdict_text(c)
        table.add_row(
            c.variant,
            _endpoint_label(c.endpoint),
            c.metric,
            _fmt_value(c.base),
            _fmt_value(c.new),
            fmt_change(c),
            f"{c.n_base}/{c.n_new}",
            f"[{style}]{text}[/]" if style else text,
        )
    return table


def to_markdown(result: Comparison) -> str:
    """A markdown section: headline, method, notes and the table."""
    lines = [
        f"## chatbench compare: `{result.run_a}` (A) → `{result.run_b}` (B)",
        "",
        f"**{_headline(result)}**",
        "",
        method_line(result),
        "",
    ]
    lines += [f"> note: {n}" for n in result.notes]
    if result.notes:
        lines.append("")
    lines += [
        f"| variant | endpoint | metric | A | B | {change_header(result)} | n (A/B) | verdict |",
        "| --- | --- | --- | ---: | ---: | --- | --- | --- |",
    ]
    for c in result.changes:
        verdict = f"**{verdict_text(c)}**" if c.significant else verdict_text(c)
        lines.append(
            f"| {c.variant} | `{_endpoint_label(c.endpoint)}` | {c.metric} | {_fmt_value(c.base)} "
            f"| {_fmt_value(c.new)} | {fmt_change(c)} | {c.n_base}/{c.n_new} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def to_json(result: Comparison) -> dict[str, Any]:
    """A JSON-safe dict (NaN → null)."""
    changes = []
    for c in result.changes:
        row = asdict(c)
        row["verdict"] = c.verdict.value
        row["significant"] = c.significant
        row["judged"] = c.judged
        changes.append(row)
    return json_safe(
        {
            "format_version": COMPARE_FORMAT_VERSION,
            "run_a": result.run_a,
            "run_b": result.run_b,
            "path_a": result.path_a,
            "path_b": result.path_b,
            "threshold": result.threshold,
            "method": method_line(result),
            "summary": {
                "slower": len(result.regressions),
                "faster": len(result.improvements),
                "not_judged": len(result.not_judged),
                "compared": len(result.changes),
            },
            "notes": list(result.notes),
            "changes": changes,
        }
    )


def draw_changes(
    result: Comparison, out_dir: str | os.PathLike[str], metrics: Sequence[str] | None = None
) -> list[Path]:
    """The chart of the changes, ``compare_changes.png`` + ``.svg`` in ``out_dir``."""
    return draw_compare_changes(result, Path(out_dir), CHART_STEM, metrics)
