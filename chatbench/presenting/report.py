"""The HTML report: one self-contained ``report.html`` per run, read top to bottom.

The order is the reader's: the **answer** (``presenting.headline``: one sentence per answer,
a sentence where answers point different ways, a small table; a suite's own sentences), what
needs the reader's action (``presenting.notices``: warnings only), the **charts**, the
**summary** table, then the **evidence**: fairness in one line with its rules behind a
disclosure, SQL work, CPU profile, integrity, control probe, configuration, notes and method.
``render_report`` returns the HTML as a string (the caller decides where it goes);
``write_report`` writes it atomically (``workflows.report.rebuild`` redoes summary, charts and
report of a run directory in one call: ``chatbench report DIR``). Charts are inline SVG
(``svginline``; PNG as a data URI when a chart has no SVG) and the CSS is inline: the file
opens anywhere, offline, with no external request. Everything from the run is escaped (jinja2
autoescape); the inlined SVG is matplotlib's own output.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import pandas as pd

from chatbench.analysing import sqltable
from chatbench.analysing.answers import run_answer
from chatbench.analysing.stats import (
    CI_METHODS,
    NONE,
    PAIRED_T_LOG,
    RANGE,
    T95,
    T95_LOG,
    WELCH_T_LOG,
)
from chatbench.analysing.tables import repetition_metrics, summarise
from chatbench.configuration.endpoints import ALL
from chatbench.configuration.endpoints import short as endpoint_short
from chatbench.presenting import cpu_chart, headline, notices, overtime_chart, svginline
from chatbench.presenting.chartkit import palette, variant_colour
from chatbench.presenting.charts import CHART_NAMES, CHARTS
from chatbench.presenting.formatting import fmt_ci, fmt_number
from chatbench.storing.atomic import write_text_atomic
from chatbench.storing.record import (
    ControlRecord,
    CrossCheckCitation,
    FairnessRecord,
    IntegrityRecord,
)
from chatbench.storing.rundir import Run, load_run

log = logging.getLogger(__name__)

_PG_SUBSET = (
    "server_version",
    "max_connections",
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "synchronous_commit",
    "fsync",
    "full_page_writes",
    "wal_level",
    "max_wal_size",
    "checkpoint_timeout",
    "random_page_cost",
    "jit",
    "shared_preload_libraries",
)


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _pairs(obj: Any) -> list[tuple[str, str]]:
    if not isinstance(obj, Mapping):
        return []
    return [(str(k), _text(v)) for k, v in obj.items()]


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# --------------------------------------------------------------------------- sections


def _question(run: Run) -> str:
    """The run's question: the one the run (or its suite) stated, else the default one."""
    if run.record.question and run.record.question.strip():
        return run.record.question.strip()
    return (
        f"For a ChatMessage API on PostgreSQL, how do {_join(list(run.variants))} compare "
        f"under {run.scenario}/{run.mode} load?"
    )


def _crosscheck(cited: CrossCheckCitation | None) -> str:
    """Which Locust/wrk cross-check vouches for this run's load generator (chosen by
    ``storing.crosschecks.latest_for`` when the run started)."""
    if cited is None or not cited.model_fields_set:
        return (
            "No Locust/wrk cross-check of this scenario was committed when this run started "
            "(results/crosscheck/): its load generator is not cross-checked."
        )
    parts = []
    for variant, a in cited.variants.items():
        verdict = "agree within ±5 %" if a.get("agrees") else "do NOT agree within ±5 %"
        parts.append(
            f"{variant} Locust/wrk {fmt_number(a.get('ratio'))} "
            f"[{fmt_number(a.get('low'))}–{fmt_number(a.get('high'))}], n = {a.get('n')}: {verdict}"
        )
    tail = f"; not covered: {', '.join(cited.not_covered)}" if cited.not_covered else ""
    return (
        f"Checked against the cross-check {cited.file} ({str(cited.started)[:10]}, "
        f"git {str(cited.git_sha or 'unknown')[:10]}): {'; '.join(parts) or 'no variant covered'}{tail}."
    )


def _fairness(f: FairnessRecord) -> dict[str, Any] | None:
    """The Fairness section: every rule with its verdict, and which were violated (None: the
    run was not judged, e.g. it failed before)."""
    if not f.model_fields_set:
        return None
    rules = [
        {
            "name": r.name,
            "rule": r.rule,
            "evidence": r.evidence,
            "status": "held" if r.held is True else ("violated" if r.held is False else r.verdict),
        }
        for r in f.rules
    ]
    violated = [r["name"] for r in rules if r["status"] == "violated"]
    violated += [name for name in f.violated if name not in violated]
    held = sum(1 for r in rules if r["status"] == "held")
    line = f"{held} of {len(rules)} rules held"
    if violated:
        line += f"; violated: {', '.join(violated)}"
    others = len(rules) - held - sum(1 for r in rules if r["status"] == "violated")
    if others:
        line += f"; {others} not judged"
    return {"overridden": f.overridden, "rules": rules, "violated": violated, "line": line}


def _configuration(run: Run) -> dict[str, Any]:
    meta = run.record
    variants = []
    colours = palette(run)
    for name in [*run.variants, *[v for v in meta.variants if v not in run.variants]]:
        info = meta.variants.get(name)
        variants.append(
            {
                "name": name,
                "colour": colours.get(name) or variant_colour(name),
                "command": _text(info.command if info else None),
                "workers": _text(info.workers if info else None),
                "threads": _text(info.threads if info else None),
                "axes": _pairs(info.axes if info else None),
                "env": _pairs(info.env if info else None),
            }
        )
    pg = meta.postgres
    subset = [(k, _text(pg.settings[k])) for k in _PG_SUBSET if k in pg.settings]
    if not subset:
        subset = [(k, _text(v)) for k, v in sorted(pg.settings.items())[:15]]
    config = meta.config.dump()
    return {
        "run_id": run.run_id,
        "status": run.status,
        "git_sha": _text(meta.git.sha),
        "git_dirty": meta.git.dirty is True,
        "started_at": _text(meta.started_at),
        "finished_at": _text(meta.finished_at),
        "versions": _pairs(meta.versions),
        "machine": _pairs(meta.machine.dump()),
        "cpu_plan": _pairs(meta.cpu_plan.dump()),
        "variants": variants,
        "postgres_version": _text(pg.version or pg.settings.get("server_version")),
        "postgres_settings": subset,
        "config": _pairs(config),
        "config_json": json.dumps(config, sort_keys=True, indent=2, default=str),
        "meta_json": json.dumps(meta.dump(), sort_keys=True, indent=2, default=str),
    }


def _summary_rows(run: Run, summary: pd.DataFrame) -> list[dict[str, Any]]:
    index = {
        (r["variant"], r["endpoint"], r["metric"]): r for r in summary.to_dict(orient="records")
    }
    rows = []
    colours = palette(run)
    for v in run.variants:
        for e in [*run.endpoints, ALL]:
            if (v, e, "requests") not in index:
                continue
            get = lambda m, v=v, e=e: index.get((v, e, m))  # noqa: E731
            rows.append(
                {
                    "variant": v,
                    "colour": colours.get(v) or variant_colour(v),
                    "endpoint": endpoint_short(e),
                    "is_all": e == ALL,
                    "rps": fmt_ci(get("rps")),
                    "p50": fmt_ci(get("p50")),
                    "p95": fmt_ci(get("p95")),
                    "p99": fmt_ci(get("p99")),
                    "errors": fmt_ci(get("error_rate"), scale=100.0, unit=" %"),
                    "req_per_cpu_s": fmt_ci(get("req_per_cpu_s")) if e == ALL else "",
                    "peak_rss_mb": fmt_ci(get("peak_rss_mb")) if e == ALL else "",
                }
            )
    return rows


def _control(section: ControlRecord | None) -> dict[str, Any] | None:
    """The control probe's figures per repetition round (``measuring.control``), if measured."""
    if section is None:
        return None
    rows = [
        {
            "repetition": _text(c.repetition),
            "error": _text(c.error) if c.error else "",
            "ops_per_s": fmt_number(c.ops_per_s),
            "p50_ms": fmt_number(c.p50_ms),
            "cpus": ", ".join(str(x) for x in c.cpus or []) or "not pinned",
        }
        for c in section.repetitions
    ]
    return {"probe": _text(section.probe), "seconds": fmt_number(section.seconds), "rows": rows}


def _integrity(items: list[IntegrityRecord]) -> list[dict[str, Any]]:
    return [
        {
            "variant": _text(it.variant),
            "repetition": _text(it.repetition),
            "expected": _text(it.expected),
            "actual": _text(it.actual),
            "ok": it.ok,
        }
        for it in items
    ]


def _summary_legend(summary: pd.DataFrame) -> str:
    """The Summary header's sentence: what each cell's bounds are, naming only the kinds of
    interval its rows have (a "95 % CI" only where there is one)."""
    kinds = set(summary["interval"].dropna()) if "interval" in summary.columns else set()
    parts = []
    if kinds & CI_METHODS:
        parts.append("[low–high] its 95 % CI (t interval on the log values, 3+ repetitions)")
    if RANGE in kinds:
        parts.append("[range low–high] the lowest and highest of 2 repetitions, not a CI")
    if NONE in kinds:
        parts.append("no brackets: one repetition, no interval")
    bounds = "; ".join(parts) or "no bounds"
    return (
        "Each cell: the geometric mean over repetitions (the mean where a value is 0, as "
        f"for errors); {bounds}; (n): the number of repetitions."
    )


def _charts(run_dir: Path) -> list[dict[str, Any]]:
    chart_dir = run_dir / "charts"
    if not chart_dir.is_dir():
        return []
    drawn = {
        p.stem: p
        for p in [*chart_dir.glob("*.svg"), *chart_dir.glob("*.png")]
        if not p.name.startswith(".") and p.stem != cpu_chart.CPU_CHART  # its own section
    }
    chart_text = {spec.name: (spec.title, spec.caption) for spec in CHARTS}
    names = [n for n in CHART_NAMES if n in drawn] + sorted(set(drawn) - set(CHART_NAMES))
    out = []
    for name in names:
        title, caption = chart_text.get(name, (name.replace("_", " ").capitalize(), ""))
        figure = markupsafe.Markup(svginline.figure_html(drawn[name], f"c-{name}", title))
        out.append({"name": name, "title": title, "caption": caption, "figure": figure})
    return out


# --------------------------------------------------------------------------- entry points


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _chart_notes(run: Run) -> list[notices.ReportWarning]:
    """Why charts the reader may look for are absent (windows too short for a line over time)."""
    said = overtime_chart.absent_note(run)
    return [notices.ReportWarning(said, notices.NOTE)] if said else []


def _verdict(found: headline.Headline, run: Run) -> dict[str, Any]:
    """The verdict's table for the template: headers, and per row its cells."""
    colours = palette(run)
    return {
        "reconciled": found.reconciled,
        "variants": [
            {"name": v, "colour": colours.get(v) or variant_colour(v)} for v in found.variants
        ],
        "ratio_headers": list(found.ratio_headers),
        "rows": [
            {
                "answer": row.answer,
                "figures": list(row.figures),
                "ratios": [
                    {"text": r.text, "judged": r.judged, "significant": r.significant}
                    for r in row.ratios
                ],
            }
            for row in found.rows
        ],
    }


def render_report(run_dir: str | os.PathLike[str], run: Run | None = None) -> str:
    """The report of a run directory as one self-contained HTML string (charts already drawn
    into ``charts/`` are inlined; missing ones are simply absent)."""
    path = Path(run_dir)
    run = run or load_run(path)
    reps = repetition_metrics(run)
    summary = summarise(reps)
    n_reps = sorted({r.repetition for r in run.repetitions})
    fairness = _fairness(run.record.fairness)
    found = notices.collect(run, reps, summary, violated=fairness["violated"] if fairness else [])
    suite = list((run.record.suite.answer if run.record.suite else None) or [])
    answer = None if suite else run_answer(run)
    verdict = None if answer is None else headline.headline(run, answer)
    context = {
        "title": f"chatbench — {run.run_id}",
        "question": _question(run),
        # The verdict first: a suite's generated sentences (workflows.report.refresh_answer), or
        # a plain run's answers with their table (presenting.headline); the full sentences of
        # analysing.answers behind a disclosure.
        "answer": suite or (list(verdict.sentences) if verdict else []),
        "verdict": None if verdict is None else _verdict(verdict, run),
        "in_full": [] if answer is None else list(answer.sentences),
        "crosscheck": _crosscheck(run.record.crosscheck),
        "run": {
            "id": run.run_id,
            "scenario": run.scenario,
            "mode": run.mode,
            "status": run.status,
            "variants": [{"name": v, "colour": c} for v, c in palette(run).items()],
            "repetitions": len(n_reps),
        },
        "fairness": fairness,
        "sql_work": sqltable.report_rows(run.record.evidence),
        "config": _configuration(run),
        "summary_rows": _summary_rows(run, summary),
        "charts": _charts(path),
        "integrity": _integrity(run.record.integrity),
        "control": _control(run.record.control),
        "cpu": cpu_chart.section(path, run),
        "warnings": [w for w in found if w.needs_action],
        "notes": [w for w in found if not w.needs_action] + _chart_notes(run),
        "summary_legend": _summary_legend(summary),
        "method": {
            "group": T95_LOG,
            "group_raw": T95,
            "ratio": WELCH_T_LOG,
            "paired": PAIRED_T_LOG,
            "range": RANGE,
        },
    }
    return _environment().get_template("report.html.j2").render(**context)


def write_report(run_dir: str | os.PathLike[str], run: Run | None = None) -> Path:
    """Render and atomically write ``run_dir/report.html``; return its path."""
    html = render_report(run_dir, run)
    return write_text_atomic(Path(run_dir) / "report.html", html)
