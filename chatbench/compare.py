"""Compare two runs: per variant × endpoint × metric, the change with its CI and a verdict.

Run A is the base, run B the candidate. For every variant and endpoint present in both runs
(endpoint ``ALL`` = every endpoint merged) and every metric in ``COMPARED_METRICS``:

**Samples.** With at least ``MIN_REPETITIONS`` (2) repetitions on both sides, the samples are
the per-repetition values (the same numbers the report's summary is the median of). With 2-3
repetitions a test *per repetition* (Mann-Whitney) has almost no power: 3 vs 3 values cannot
reach p < 0.05 at all. So the interval is a **bootstrap CI of the ratio of medians**, each run
resampled independently (``stats.ratio_ci``, percentile method, fixed seed); with 2 vs 2 values
it amounts to "the two ranges do not overlap", which is conservative but still detects the
large changes a regression gate is for. Where a side has only **one repetition** there is no
spread between repetitions to judge against, so the samples become the **per-second values**
of the measured window (``results.time_series``: successful requests per second, per-second
p50/p95/p99), pooled over the repetitions there are. Seconds are serially correlated, so that
interval is narrower than the truth; the practical threshold below is what keeps it honest,
and the table says which source each row used. Metrics without a per-second series
(requests per CPU-second) need 2 repetitions on each side; otherwise they are reported with
"insufficient data" and never called significant.

The price of few repetitions: with 2 vs 2, two runs of the *same* code have non-overlapping
ranges by chance one time in three; only the threshold stands between that and a false
verdict, so the comparison carries a note recommending 3+ repetitions.

**Invalid repetitions.** Repetitions a run's ``meta.json`` lists in ``invalid_repetitions``
(a saturated load generator: those figures measure Locust, not the service) are left out of
both the repetition and the per-second samples, as ``chatbench check`` does, and each one is
named in the notes; a variant with no valid repetition left is not compared.

**Change.** ``change = median(B) / median(A) - 1`` with the ratio's 95 % CI minus 1; the
``base``/``new`` columns are the medians of the samples compared, so the change is exactly
their ratio (for the repetition source they equal the report's summary values).

**Significant** = the change's CI excludes 0 **and** ``|change|`` is at least
``DEFAULT_THRESHOLD`` (5 %, a difference a performance engineer would act on; machine noise
between two quiet runs is usually below it), and, when both sides have at least 4 samples,
the two-sided Mann-Whitney p-value is below 0.05 as well (``stats.is_significant``).
The direction comes from the metric: higher is better for throughput and requests per
CPU-second, lower for latencies. Comparing a run with itself gives change 0 with a CI that
contains 0 everywhere: no significant change.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from chatbench.results import (
    ALL,
    Run,
    json_safe,
    load_run,
    repetition_metrics,
    time_series,
)
from chatbench.stats import (
    ALPHA,
    DEFAULT_CONFIDENCE,
    Verdict,
    higher_is_better,
    is_significant,
    mann_whitney,
    ratio_ci,
)

FORMAT_VERSION = 1
DEFAULT_THRESHOLD = 0.05
MIN_REPETITIONS = 2
COMPARED_METRICS = ("rps", "p50", "p95", "p99", "req_per_cpu_s")
METRIC_LABELS = {
    "rps": "throughput (req/s)",
    "p50": "p50 (ms)",
    "p95": "p95 (ms)",
    "p99": "p99 (ms)",
    "req_per_cpu_s": "req / CPU-s",
}
SOURCE_REPETITIONS = "repetitions"
SOURCE_SECONDS = "per-second"
SOURCE_NONE = "insufficient data"
CHART_STEM = "compare_changes"
_VERDICT_STYLE = {Verdict.SLOWER: "bold red", Verdict.FASTER: "bold green"}


@dataclass(frozen=True)
class Change:
    """One variant × endpoint × metric: base and new medians and the relative change."""

    variant: str
    endpoint: str
    metric: str
    base: float
    new: float
    change: float  # new / base - 1
    ci_low: float
    ci_high: float
    n_base: int
    n_new: int
    p_value: float
    source: str
    verdict: Verdict

    @property
    def significant(self) -> bool:
        return self.verdict != Verdict.NO_CHANGE


@dataclass(frozen=True)
class Comparison:
    """Everything ``compare`` found; rendered by ``to_rich_table``/``to_markdown``/``to_json``."""

    run_a: str
    run_b: str
    path_a: str
    path_b: str
    threshold: float
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def regressions(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.verdict == Verdict.SLOWER)

    @property
    def improvements(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.verdict == Verdict.FASTER)


# --------------------------------------------------------------------------- samples


class _Samples:
    """Per-repetition and per-second values of one run, computed once."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.reps = repetition_metrics(run)
        self.series = time_series(run)
        self.n_reps = {
            v: len({r.repetition for r in run.repetitions if r.variant == v}) for v in run.variants
        }

    def per_repetition(self, variant: str, endpoint: str, metric: str) -> np.ndarray:
        r = self.reps
        hit = r[(r["variant"] == variant) & (r["endpoint"] == endpoint) & (r["metric"] == metric)]
        return _finite(hit["value"])

    def per_second(self, variant: str, endpoint: str, metric: str) -> np.ndarray:
        s = self.series
        if s.empty or metric not in s.columns:
            return np.array([])
        hit = s[(s["variant"] == variant) & (s["endpoint"] == endpoint)]
        return _finite(hit[metric])


def _finite(values: pd.Series) -> np.ndarray:
    arr = values.to_numpy(dtype=float)
    return arr[np.isfinite(arr)]


def _pick_samples(
    a: _Samples, b: _Samples, variant: str, endpoint: str, metric: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """The rule of the module docstring: repetitions if both have ≥ 2, else per-second."""
    if min(a.n_reps[variant], b.n_reps[variant]) >= MIN_REPETITIONS:
        xa = a.per_repetition(variant, endpoint, metric)
        xb = b.per_repetition(variant, endpoint, metric)
        if min(xa.size, xb.size) >= MIN_REPETITIONS:
            return xa, xb, SOURCE_REPETITIONS
    xa = a.per_second(variant, endpoint, metric)
    xb = b.per_second(variant, endpoint, metric)
    if min(xa.size, xb.size) >= MIN_REPETITIONS:
        return xa, xb, SOURCE_SECONDS
    return (
        a.per_repetition(variant, endpoint, metric),
        b.per_repetition(variant, endpoint, metric),
        SOURCE_NONE,
    )


def compare_samples(
    xa: np.ndarray,
    xb: np.ndarray,
    *,
    metric: str,
    threshold: float = DEFAULT_THRESHOLD,
    source: str = SOURCE_REPETITIONS,
) -> tuple[float, float, float, float, float, float, Verdict]:
    """``(base, new, change, ci_low, ci_high, p, verdict)`` for two sample sets of one metric."""
    base = float(np.median(xa)) if xa.size else math.nan
    new = float(np.median(xb)) if xb.size else math.nan
    ratio = ratio_ci(xb, xa, confidence=DEFAULT_CONFIDENCE)
    p = mann_whitney(xa, xb)
    n_a, n_b = (int(xa.size), int(xb.size)) if source != SOURCE_NONE else (0, 0)
    if is_significant(ratio, p, n_a, n_b, alpha=ALPHA, min_effect=threshold):
        better = (ratio.value > 1.0) == higher_is_better(metric)
        verdict = Verdict.FASTER if better else Verdict.SLOWER
    else:
        verdict = Verdict.NO_CHANGE
    return base, new, ratio.value - 1, ratio.low - 1, ratio.high - 1, p, verdict


# --------------------------------------------------------------------------- compare


def without_invalid(run: Run) -> tuple[Run, list[str]]:
    """``run`` without the repetitions its ``meta.json`` lists in ``invalid_repetitions``
    (e.g. a saturated load generator: those latencies measure Locust, not the service), the
    same ones ``chatbench check`` leaves out, and one note per excluded repetition."""
    invalid = run.meta.get("invalid_repetitions") or []
    bad: dict[tuple[str, int], str] = {}
    for x in invalid:
        try:
            bad[(str(x.get("variant")), int(x.get("repetition", 0)))] = str(
                x.get("reason") or "invalid"
            )
        except (AttributeError, TypeError, ValueError):
            continue
    if not bad:
        return run, []
    kept = tuple(r for r in run.repetitions if (r.variant, r.repetition) not in bad)
    notes = [
        f"{run.run_id}: {variant} repetition {rep} excluded ({reason}): its figures cannot be "
        "trusted."
        for (variant, rep), reason in sorted(bad.items())
        if any(r.variant == variant and r.repetition == rep for r in run.repetitions)
    ]
    left = {r.variant for r in kept}
    for variant in sorted({v for v, _ in bad} & set(run.variants) - left):
        notes.append(
            f"{run.run_id}: every repetition of {variant} was excluded as invalid, so it is "
            "not compared."
        )
    return dataclasses.replace(run, repetitions=kept), notes


def _notes(a: Run, b: Run) -> list[str]:
    notes = []
    for attr in ("scenario", "mode"):
        va, vb = getattr(a, attr), getattr(b, attr)
        if va != vb:
            notes.append(f"The runs differ in {attr} ({va} vs {vb}): changes mix both effects.")
    for key in ("users", "rate", "duration_s"):
        va, vb = a.config.get(key), b.config.get(key)
        if va != vb:
            notes.append(f"The runs differ in {key} ({va} vs {vb}).")
    only_a = sorted(set(a.variants) - set(b.variants))
    only_b = sorted(set(b.variants) - set(a.variants))
    if only_a:
        notes.append(f"Only in {a.run_id}: {', '.join(only_a)} (not compared).")
    if only_b:
        notes.append(f"Only in {b.run_id}: {', '.join(only_b)} (not compared).")
    fewest = min((len({r.repetition for r in run.repetitions}) for run in (a, b)), default=0)
    if fewest == MIN_REPETITIONS and a.path != b.path:
        notes.append(
            "Only 2 repetitions on a side: two runs of the same code can differ beyond the "
            "noise by chance; confirm a verdict with --repeat 3 or more."
        )
    for run in (a, b):
        if run.status != "complete":
            notes.append(f"{run.run_id} is {run.status!r}, not 'complete'.")
    return notes


def compare_loaded(run_a: Run, run_b: Run, *, threshold: float = DEFAULT_THRESHOLD) -> Comparison:
    """``compare_runs`` on already loaded runs (without their invalid repetitions)."""
    same = run_a is run_b or run_a.path == run_b.path
    run_a, excluded_a = without_invalid(run_a)
    run_b, excluded_b = (run_a, []) if same else without_invalid(run_b)
    a, b = _Samples(run_a), _Samples(run_b)
    changes = []
    for variant in [v for v in run_a.variants if v in run_b.variants]:
        endpoints = [e for e in run_a.endpoints if e in run_b.endpoints] + [ALL]
        for endpoint in endpoints:
            for metric in COMPARED_METRICS:
                xa, xb, source = _pick_samples(a, b, variant, endpoint, metric)
                if xa.size == 0 or xb.size == 0:
                    continue  # e.g. req_per_cpu_s exists only for ALL
                base, new, change, low, high, p, verdict = compare_samples(
                    xa, xb, metric=metric, threshold=threshold, source=source
                )
                changes.append(
                    Change(
                        variant=variant,
                        endpoint=endpoint,
                        metric=metric,
                        base=base,
                        new=new,
                        change=change,
                        ci_low=low,
                        ci_high=high,
                        n_base=int(xa.size),
                        n_new=int(xb.size),
                        p_value=p,
                        source=source,
                        verdict=verdict,
                    )
                )
    return Comparison(
        run_a=run_a.run_id,
        run_b=run_b.run_id,
        path_a=str(run_a.path),
        path_b=str(run_b.path),
        threshold=threshold,
        changes=tuple(changes),
        notes=tuple([*excluded_a, *excluded_b, *_notes(run_a, run_b)]),
    )


def compare_runs(
    run_a: str | os.PathLike[str],
    run_b: str | os.PathLike[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> Comparison:
    """Compare run directory B (candidate) against A (base); see the module docstring."""
    return compare_loaded(load_run(run_a), load_run(run_b), threshold=threshold)


# --------------------------------------------------------------------------- rendering


def _endpoint_label(endpoint: str) -> str:
    return "all endpoints" if endpoint == ALL else endpoint


def _fmt_value(x: float) -> str:
    """The report's number format, with two decimals below 1 so the A/B columns stay aligned."""
    from chatbench.report import fmt_number  # imported late: report pulls in charts/matplotlib

    return fmt_number(x, decimals_below_one=2)


def fmt_change(c: Change) -> str:
    """``+12.3 % [+8.1, +16.0]``."""
    if not math.isfinite(c.change):
        return "—"
    if not (math.isfinite(c.ci_low) and math.isfinite(c.ci_high)):
        return f"{c.change * 100:+.1f} % [no CI]"
    return f"{c.change * 100:+.1f} % [{c.ci_low * 100:+.1f}, {c.ci_high * 100:+.1f}]"


def _headline(result: Comparison) -> str:
    n_slow, n_fast = len(result.regressions), len(result.improvements)
    if not n_slow and not n_fast:
        return "No significant change anywhere."
    return f"{n_slow} significantly slower, {n_fast} significantly faster."


def _method_line(result: Comparison) -> str:
    return (
        "change = median(B)/median(A) − 1 with a 95 % bootstrap CI; significant when the CI "
        f"excludes 0 and |change| ≥ {result.threshold * 100:.0f} %."
    )


def to_rich_table(result: Comparison) -> Table:
    """The terminal table (rows with a verdict are coloured)."""
    table = Table(
        title=f"compare {result.run_a} (A) → {result.run_b} (B)",
        caption=f"{_headline(result)}\n{_method_line(result)}"
        + "".join(f"\nnote: {n}" for n in result.notes),
    )
    for col in ("variant", "endpoint", "metric", "A", "B", "change [95 % CI]", "n", "verdict"):
        table.add_column(col, justify="right" if col in ("A", "B", "n") else "left")
    for c in result.changes:
        style = _VERDICT_STYLE.get(c.verdict, "")
        table.add_row(
            c.variant,
            _endpoint_label(c.endpoint),
            c.metric,
            _fmt_value(c.base),
            _fmt_value(c.new),
            fmt_change(c),
            f"{c.n_base}/{c.n_new} {c.source}",
            f"[{style}]{c.verdict.value}[/]" if style else c.verdict.value,
        )
    return table


def to_markdown(result: Comparison) -> str:
    """A markdown section: headline, method, notes and the table."""
    lines = [
        f"## chatbench compare: `{result.run_a}` (A) → `{result.run_b}` (B)",
        "",
        f"**{_headline(result)}**",
        "",
        _method_line(result),
        "",
    ]
    lines += [f"> note: {n}" for n in result.notes]
    if result.notes:
        lines.append("")
    lines += [
        "| variant | endpoint | metric | A | B | change [95 % CI] | n (A/B) | verdict |",
        "| --- | --- | --- | ---: | ---: | --- | --- | --- |",
    ]
    for c in result.changes:
        verdict = f"**{c.verdict.value}**" if c.significant else c.verdict.value
        lines.append(
            f"| {c.variant} | `{_endpoint_label(c.endpoint)}` | {c.metric} | {_fmt_value(c.base)} "
            f"| {_fmt_value(c.new)} | {fmt_change(c)} | {c.n_base}/{c.n_new} {c.source} "
            f"| {verdict} |"
        )
    return "\n".join(lines) + "\n"


def to_json(result: Comparison) -> dict[str, Any]:
    """A JSON-safe dict (NaN → null)."""
    changes = []
    for c in result.changes:
        row = asdict(c)
        row["verdict"] = c.verdict.value
        row["significant"] = c.significant
        changes.append(row)
    return json_safe(
        {
            "format_version": FORMAT_VERSION,
            "run_a": result.run_a,
            "run_b": result.run_b,
            "path_a": result.path_a,
            "path_b": result.path_b,
            "threshold": result.threshold,
            "method": _method_line(result),
            "summary": {
                "slower": len(result.regressions),
                "faster": len(result.improvements),
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
    from chatbench.charts import draw_compare_changes

    return draw_compare_changes(result, Path(out_dir), CHART_STEM, metrics)
