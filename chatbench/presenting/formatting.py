"""How numbers are written in every report, table and chart: precision adapted to magnitude."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from chatbench.analysing.stats import CI_METHODS, RANGE


def fmt_number(x: Any, decimals_below_one: int | None = None) -> str:
    """Compact, precision adapted to magnitude: 1,302 / 884 / 20.6 / 9.16 / 0.532.

    Below 1 the default keeps three decimals and writes zero as a bare ``0`` (the report);
    ``decimals_below_one=2`` gives every value under 1, zero included, two decimals like the
    1..10 band, so a table column stays aligned (``chatbench compare``).
    """
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(v):
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if decimals_below_one is not None:
        return f"{v:.{decimals_below_one}f}"
    return "0" if v == 0 else f"{v:.3f}"


def fmt_ci(row: Mapping[str, Any] | None, scale: float = 1.0, unit: str = "") -> str:
    """A summary row as ``value [low–high] (n)`` when its bounds are a 95 % CI, ``value
    [range low–high] (n)`` when they are the range of 2 repetitions, ``value (n)`` without
    bounds (its ``interval`` column says which); an em dash when there is no value."""
    if row is None:
        return "—"
    v = float(row["value"])
    if not math.isfinite(v):
        return "—"
    n = f"({int(row['n'])})"
    lo, hi = float(row["ci_low"]) * scale, float(row["ci_high"]) * scale
    kind = row.get("interval")
    if kind not in (*CI_METHODS, RANGE) or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{fmt_number(v * scale)}{unit} {n}"
    label = "range " if kind == RANGE else ""
    return f"{fmt_number(v * scale)}{unit} [{label}{fmt_number(lo)}–{fmt_number(hi)}{unit}] {n}"


def fmt_value(v: float) -> str:
    """Bar labels: 1,302 / 88.4 / 9.16."""
    return f"{v:,.0f}" if abs(v) >= 100 else (f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}")
