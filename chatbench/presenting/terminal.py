"""What the terminal shows after a run: the summary table, read back from summary.csv.

Fits 80 columns: short endpoint names, one value per cell, a long variant label spread over
rows; on a terminal at least ``WIDE_TERMINAL`` columns wide each value also shows its bounds:
``[low–high]`` for a 95 % CI, ``[range low–high]`` for the range of 2 repetitions (summary.csv's
``interval`` column). ``after_run`` is everything ``chatbench run`` prints about a finished
run, the verdict first (``presenting.headline``: a sentence per answer, a small table);
``sql_table`` the SQL each endpoint runs alone (``chatbench verify``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich import box
from rich.markup import escape
from rich.table import Table

from chatbench.analysing.fairness import terminal_line
from chatbench.analysing.stats import CI_METHODS, RANGE, legend
from chatbench.configuration.endpoints import terminal
from chatbench.configuration.settings import RunConfig
from chatbench.presenting.headline import Headline, headline
from chatbench.storing import record as rec

# (header, summary.csv metric, number format)
SUMMARY_COLUMNS = (
    ("req/s", "rps", "{:.1f}"),
    ("p50 ms", "p50", "{:.2f}"),
    ("p95 ms", "p95", "{:.2f}"),
    ("p99 ms", "p99", "{:.2f}"),
    ("errors", "failures", "{:.0f}"),
    ("req/CPU-s", "req_per_cpu_s", "{:.0f}"),
)
WIDE_TERMINAL = 120  # from here on, confidence intervals fit next to each value


def label_lines(label: str) -> list[str]:
    """``django[pool=none,server=sync]`` -> ["django", "pool=none", "server=sync"]: printed one
    line per row of the variant's group, so a long label stays in a narrow column."""
    base, _, axes = label.partition("[")
    return [base, *(a for a in axes.rstrip("]").split(",") if a)]


def summary_table(run_dir: Path, *, width: int) -> tuple[Table, str] | None:
    """The summary table of a run directory and its legend line (None: no summary.csv yet)."""
    path = run_dir / "summary.csv"
    if not path.exists():
        return None
    df = pd.read_csv(path)
    wide = width >= WIDE_TERMINAL
    table = Table(title=f"chatbench {run_dir.name}", box=box.SIMPLE_HEAD, pad_edge=False)
    longest = max((len(x) for v in df["variant"].unique() for x in label_lines(str(v))), default=7)
    # Axis labels (pool=persistent, …) need a wider first column: at 80 columns the per-CPU
    # column gives way (it stays in summary.csv and the report).
    columns = [c for c in SUMMARY_COLUMNS if wide or longest <= 8 or c[1] != "req_per_cpu_s"]
    table.add_column("variant", no_wrap=True, min_width=max(7, longest))
    table.add_column("endpoint", no_wrap=True)
    for header, _, _ in columns:
        table.add_column(header, justify="right", no_wrap=True)
    # Rate mode: how many repetitions did not keep the rate (load.openloop); their latency is
    # a lower bound. Shown only when the run has a rate-mode repetition that overloaded.
    overloaded = "overloaded" in df.columns and bool((df["overloaded"].fillna(0) > 0).any())
    if overloaded:
        table.add_column("overloaded", justify="right", no_wrap=True)

    def cell(sub: pd.DataFrame, metric: str, fmt: str) -> str:
        row = sub[sub["metric"] == metric]
        if row.empty or pd.isna(row.iloc[0]["value"]):
            return "–"
        r = row.iloc[0]
        text = fmt.format(r["value"])
        kind = r.get("interval")
        if wide and kind in (*CI_METHODS, RANGE) and pd.notna(r["ci_low"]):
            label = "range " if kind == RANGE else ""
            text += f" [{label}{fmt.format(r['ci_low'])}–{fmt.format(r['ci_high'])}]"
        return text

    for variant, group in df.groupby("variant", sort=False):
        lines = label_lines(str(variant))
        endpoints = list(dict.fromkeys(group["endpoint"]))
        for i in range(max(len(endpoints), len(lines))):
            # A plain name repeats on each row (greppable); an axis label spreads over rows.
            name = lines[i] if i < len(lines) else (lines[0] if len(lines) == 1 else "")
            name = escape(name)  # brackets are not rich markup
            if i >= len(endpoints):
                table.add_row(name, *[""] * (len(columns) + 1 + overloaded))
                continue
            endpoint = endpoints[i]
            sub = group[group["endpoint"] == endpoint]
            extra = []
            if overloaded:
                worst = int(sub["overloaded"].fillna(0).max()) if not sub.empty else 0
                n = int(sub["n"].max()) if not sub.empty else 0
                extra = [f"{worst} of {n}" if worst else "0"]
            table.add_row(
                name,
                terminal(str(endpoint)),
                *(cell(sub, metric, fmt) for _, metric, fmt in columns),
                *extra,
                end_section=i == max(len(endpoints), len(lines)) - 1 and len(lines) > 1,
            )
    methods = df["interval"].dropna() if "interval" in df.columns else []
    where = "" if wide else f" (bounds: summary.csv, or a terminal ≥ {WIDE_TERMINAL} columns)"
    return table, f"values over repetitions: {legend(methods)}{where}"


def sql_table(name: str, sql: dict[str, dict[str, Any]]) -> Table:
    """Per endpoint, called alone: what Postgres ran (pg_stat_statements), per call."""
    table = Table(title=f"SQL work per call, endpoint alone: {escape(name)}")
    table.add_column("endpoint", no_wrap=True)
    table.add_column("stmts", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("DB ms", justify="right")
    table.add_column("statements (normalised)", overflow="fold")
    for endpoint, p in sql.items():
        texts = "; ".join(
            f"{s['calls'] / max(1, p.get('calls', 1)):g}× {' '.join(str(s['query']).split())}"
            for s in p.get("statements", [])
        )
        table.add_row(
            escape(terminal(endpoint)),
            f"{p['statements_per_call']:.2f}",
            f"{p['rows_per_call']:.2f}",
            f"{p['db_exec_ms_per_call']:.3f}",
            escape(texts),
        )
    return table


def verdict_table(found: Headline) -> Table:
    """The verdict's small table: each answer's figure per variant with its bounds, and each
    ratio with whether the difference is significant (``presenting.headline``)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("answer", overflow="fold", min_width=14)
    for v in found.variants:
        table.add_column(escape(v), overflow="fold")
    for header in found.ratio_headers:
        table.add_column(escape(header), overflow="fold")
    for row in found.rows:
        cells = [escape(f) for f in row.figures]
        # The judgement's first clause (the report gives the rest, e.g. a widened interval).
        ratios = [
            escape(r.text)
            + (
                f"\n[{'green' if r.significant else 'dim'}]{escape(r.judged.split(';')[0])}[/]"
                if r.judged
                else ""
            )
            for r in row.ratios
        ]
        table.add_row(escape(row.answer), *cells, *ratios)
    return table


@dataclass(frozen=True)
class AfterRun:
    """What the terminal shows about a finished run, in print order: the answer first (a
    suite's question and sentences, or a plain run's verdict), then the summary, then the
    fairness line."""

    question: str | None  # a suite's question (None: a plain run)
    answer: tuple[str, ...]  # the answer's sentences
    verdict: Headline | None  # a plain run's verdict (its table and reconciliation)
    summary: tuple[Table, str] | None  # the table and its legend line
    fairness: str  # one line: rules held, violated, not checked


def after_run(run_dir: Path, *, width: int) -> AfterRun:
    """The answer, the summary and the fairness line of a run directory."""
    record = rec.load(run_dir)
    if record.suite is not None:
        question, answer, verdict = record.question, tuple(record.suite.answer or ()), None
    else:
        verdict = headline(run_dir)
        question, answer = None, verdict.sentences
    return AfterRun(
        question,
        answer,
        verdict,
        summary_table(run_dir, width=width),
        terminal_line(record.fairness),
    )


def config_lines(cfg: RunConfig) -> list[str]:
    """``chatbench run --show-config``: every setting of the run, its value as meta.json will
    hold it, and where it came from (``RunConfig.origins``), one per line."""
    values = cfg.as_dict()
    origins = values.pop("origins")
    width = max(len(name) for name in values)
    return [
        f"{name:<{width}}  {json.dumps(value, ensure_ascii=False, default=str)}  "
        f"({origins.get(name, 'default')})"
        for name, value in values.items()
    ]
