"""The HTML report: one self-contained ``report.html`` per run.

``render_report`` returns the HTML as a string (the caller decides where it goes);
``write_report`` writes it atomically (``workflows.report.rebuild`` redoes summary, charts and
report of a run directory in one call: ``chatbench report DIR``). Charts are inlined as base64 PNG
data URIs and the CSS is inline: the file opens anywhere, offline, with no external request.
Everything from the run is escaped (jinja2 autoescape).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
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
from chatbench.load.health import invalid_message
from chatbench.presenting import cpu_chart
from chatbench.presenting.chartkit import palette, variant_colour
from chatbench.presenting.charts import CHART_NAMES, CHARTS
from chatbench.presenting.formatting import fmt_ci, fmt_number
from chatbench.storing.atomic import write_text_atomic
from chatbench.storing.record import (
    ControlRecord,
    CrossCheckCitation,
    FairnessRecord,
    IntegrityRecord,
    RunRecord,
)
from chatbench.storing.rundir import Run, load_run

log = logging.getLogger(__name__)

ERROR_RATE_LIMIT = 0.01
CI_WIDTH_LIMIT = 0.20
_CI_CHECKED = ("rps", "p50", "p95", "p99", "req_per_cpu_s")
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


@dataclass(frozen=True)
class ReportWarning:
    """One line of the report's warnings section."""

    message: str
    severity: str = "warning"  # "warning" | "error"


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
    return {"overridden": f.overridden, "rules": rules, "violated": violated}


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


def collect_warnings(run: Run, reps: pd.DataFrame, summary: pd.DataFrame) -> list[ReportWarning]:
    """Everything a reader must know before trusting the figures (pure; used by the report)."""
    out: list[ReportWarning] = []
    if run.status != "complete":
        out.append(
            ReportWarning(
                f"Run status is {run.status!r}, not 'complete': figures may be partial.", "error"
            )
        )
    meta: RunRecord = run.record
    if meta.error:
        out.append(ReportWarning(f"The run stopped with an error: {_text(meta.error)}", "error"))
    fairness = _fairness(meta.fairness)
    if fairness and fairness["violated"]:
        out.append(
            ReportWarning(f"Fairness rules violated: {', '.join(fairness['violated'])}.", "error")
        )
    for item in _integrity(meta.integrity):
        if not item["ok"]:
            out.append(
                ReportWarning(
                    f"Integrity: {item['variant']} repetition {item['repetition']} has "
                    f"{item['actual']} rows, expected {item['expected']}.",
                    "error",
                )
            )
    if not reps.empty:
        err = reps[(reps["metric"] == "error_rate") & (reps["value"] > ERROR_RATE_LIMIT)]
        for r in err.itertuples():
            out.append(
                ReportWarning(
                    f"{r.variant} repetition {r.repetition}, {endpoint_short(r.endpoint)}: error rate "
                    f"{r.value * 100:.1f} % (> {ERROR_RATE_LIMIT * 100:.0f} %)."
                )
            )
    # The run's own verdict (chatbench.load.health.LoadgenHealth), never judged again here: the
    # report, the fairness rule, compare and check name the same repetitions for one reason.
    invalid = [invalid_message(x.variant, x.repetition, x.reason) for x in meta.invalid_repetitions]
    out.extend(ReportWarning(message, "error") for message in invalid)
    for rep in run.repetitions:
        if rep.rate is not None and rep.rate.overloaded:
            out.append(
                ReportWarning(
                    f"{rep.variant} repetition {rep.repetition} was OVERLOADED: "
                    f"{rep.rate.describe()}; its latency is a lower bound, never compared.",
                    "error",
                )
            )
        elif rep.behind_schedule > 0:
            out.append(
                ReportWarning(
                    f"{rep.variant} repetition {rep.repetition}: {rep.behind_schedule} sends fell "
                    "behind schedule (a user still waited for its previous response, or the load "
                    "generator was late); every latency counts from the intended send time."
                )
            )
    out += interval_warnings(summary)
    for w in meta.warnings:
        if w in invalid:  # the run's copy of a sentence already shown as an error
            continue
        out.append(ReportWarning(_text(w)))
    return out


def interval_warnings(summary: pd.DataFrame) -> list[ReportWarning]:
    """95 % CIs wider than ``CI_WIDTH_LIMIT`` of their value (only rows whose bounds ARE a CI),
    and one line when figures rest on fewer than 3 repetitions (a range of 2, or none)."""
    out: list[ReportWarning] = []
    if summary.empty:
        return out
    checked = summary[summary["metric"].isin(_CI_CHECKED)]
    for r in checked[checked["interval"].isin(CI_METHODS)].itertuples():
        width = (r.ci_high - r.ci_low) / abs(r.value) if r.value else math.nan
        if math.isfinite(width) and width > CI_WIDTH_LIMIT:
            out.append(
                ReportWarning(
                    f"{r.variant} {endpoint_short(r.endpoint)} {r.metric}: 95 % CI is "
                    f"{width * 100:.0f} % of the value (n={r.n}); more repetitions or a longer "
                    "measurement would tighten it."
                )
            )
    few = checked[checked["n"].between(1, 2)]
    if not few.empty:
        out.append(
            ReportWarning(
                f"{', '.join(dict.fromkeys(few['variant']))}: fewer than 3 repetitions, so "
                "their figures have no 95 % CI (with 2, the range of the 2 values is shown); "
                "rerun with --repeat 3 or more (5 recommended) before drawing conclusions."
            )
        )
    return out


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


def _charts(run_dir: Path) -> list[dict[str, str]]:
    chart_dir = run_dir / "charts"
    if not chart_dir.is_dir():
        return []
    pngs = {
        p.stem: p
        for p in chart_dir.glob("*.png")
        if not p.name.startswith(".") and p.stem != cpu_chart.CPU_CHART  # its own section
    }
    chart_text = {spec.name: (spec.title, spec.caption) for spec in CHARTS}
    names = [n for n in CHART_NAMES if n in pngs] + sorted(set(pngs) - set(CHART_NAMES))
    out = []
    for name in names:
        title, caption = chart_text.get(name, (name.replace("_", " ").capitalize(), ""))
        data = base64.b64encode(pngs[name].read_bytes()).decode("ascii")
        out.append(
            {
                "name": name,
                "title": title,
                "caption": caption,
                "uri": f"data:image/png;base64,{data}",
            }
        )
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


def render_report(run_dir: str | os.PathLike[str], run: Run | None = None) -> str:
    """The report of a run directory as one self-contained HTML string (charts already drawn
    into ``charts/`` are inlined; missing ones are simply absent)."""
    path = Path(run_dir)
    run = run or load_run(path)
    reps = repetition_metrics(run)
    summary = summarise(reps)
    n_reps = sorted({r.repetition for r in run.repetitions})
    context = {
        "title": f"chatbench — {run.run_id}",
        "question": _question(run),
        # The answer first: a suite's generated sentences (chatbench.workflows.report.refresh_answer), or
        # a plain run's capacity and ratio (chatbench.analysing.answers).
        "answer": list((run.record.suite.answer if run.record.suite else None) or [])
        or list(run_answer(run).sentences),
        "crosscheck": _crosscheck(run.record.crosscheck),
        "run": {
            "id": run.run_id,
            "scenario": run.scenario,
            "mode": run.mode,
            "status": run.status,
            "variants": [{"name": v, "colour": c} for v, c in palette(run).items()],
            "repetitions": len(n_reps),
        },
        "fairness": _fairness(run.record.fairness),
        "sql_work": sqltable.report_rows(run.record.evidence),
        "config": _configuration(run),
        "summary_rows": _summary_rows(run, summary),
        "charts": _charts(path),
        "integrity": _integrity(run.record.integrity),
        "control": _control(run.record.control),
        "cpu": cpu_chart.section(path, run),
        "warnings": collect_warnings(run, reps, summary),
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
