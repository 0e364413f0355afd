"""The HTML report: one self-contained ``report.html`` per run.

``render_report`` returns the HTML as a string (the caller decides where it goes);
``write_report`` writes it atomically; ``rebuild`` redoes summary, charts and report of a run
directory in one call (what ``chatbench report DIR`` does). Charts are inlined as base64 PNG
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

from chatbench import sqlwork
from chatbench.answers import run_answer
from chatbench.charts import CHART_NAMES, CHARTS, draw_all, endpoint_short, variant_colour
from chatbench.loadhealth import invalid_message
from chatbench.results import (
    ALL,
    Run,
    load_run,
    repetition_metrics,
    summarise,
    write_summary,
    write_text_atomic,
)
from chatbench.stats import CI_METHODS, NONE, PAIRED_T_LOG, RANGE, T95, T95_LOG, WELCH_T_LOG

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


# --------------------------------------------------------------------------- formatting


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
    """The run's question: meta["question"] when the runner (or a suite) stated one."""
    if isinstance(run.meta.get("question"), str) and run.meta["question"].strip():
        return run.meta["question"].strip()
    return (
        f"For a ChatMessage API on PostgreSQL, how do {_join(list(run.variants))} compare "
        f"under {run.scenario}/{run.mode} load?"
    )


def _crosscheck(meta: Mapping[str, Any]) -> str:
    """Which Locust/wrk cross-check vouches for this run's load generator (meta["crosscheck"],
    chosen by ``chatbench.crosscheck.latest_for`` when the run started)."""
    cited = meta.get("crosscheck")
    if not isinstance(cited, Mapping) or not cited:
        return (
            "No Locust/wrk cross-check of this scenario was committed when this run started "
            "(results/crosscheck/): its load generator is not cross-checked."
        )
    parts = []
    for variant, a in (cited.get("variants") or {}).items():
        if not isinstance(a, Mapping):
            continue
        verdict = "agree within ±5 %" if a.get("agrees") else "do NOT agree within ±5 %"
        parts.append(
            f"{variant} Locust/wrk {fmt_number(a.get('ratio'))} "
            f"[{fmt_number(a.get('low'))}–{fmt_number(a.get('high'))}], n = {a.get('n')}: {verdict}"
        )
    missing = list(cited.get("not_covered") or [])
    tail = f"; not covered: {', '.join(missing)}" if missing else ""
    return (
        f"Checked against the cross-check {cited.get('file')} ({str(cited.get('started'))[:10]}, "
        f"git {str(cited.get('git_sha') or 'unknown')[:10]}): {'; '.join(parts) or 'no variant covered'}{tail}."
    )


def _fairness(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """meta["fairness"]: {"rules": [{name, rule, evidence, held}], "violated", "overridden"}."""
    f = meta.get("fairness")
    if not isinstance(f, Mapping) or not f:
        return None
    rules = []
    for r in f.get("rules") or []:
        if not isinstance(r, Mapping):
            continue
        held = r.get("held", r.get("ok"))
        rules.append(
            {
                "name": _text(r.get("name") or r.get("rule")),
                "rule": _text(r.get("rule")) if r.get("name") and r.get("rule") else "",
                "evidence": _text(r.get("evidence")),
                "status": "held"
                if held is True
                else ("violated" if held is False else _text(r.get("verdict") or "unknown")),
            }
        )
    violated = [r["name"] for r in rules if r["status"] == "violated"]
    for name in f.get("violated") or []:
        if str(name) not in violated:
            violated.append(str(name))
    return {"overridden": f.get("overridden") is True, "rules": rules, "violated": violated}


def _configuration(run: Run) -> dict[str, Any]:
    meta = run.meta
    git = meta.get("git") if isinstance(meta.get("git"), Mapping) else {}
    sha = meta.get("git_sha") or git.get("sha")
    dirty = git.get("dirty")
    variants = []
    vmeta = meta.get("variants") if isinstance(meta.get("variants"), Mapping) else {}
    for name in [*run.variants, *[v for v in vmeta if v not in run.variants]]:
        info = vmeta.get(name) if isinstance(vmeta.get(name), Mapping) else {}
        variants.append(
            {
                "name": name,
                "colour": variant_colour(name),
                "command": _text(info.get("command")),
                "workers": _text(info.get("workers")),
                "threads": _text(info.get("threads")),
                "axes": _pairs(info.get("axes")),
                "env": _pairs(info.get("env")),
            }
        )
    pg = meta.get("postgres") if isinstance(meta.get("postgres"), Mapping) else {}
    settings = pg.get("settings") if isinstance(pg.get("settings"), Mapping) else {}
    subset = [(k, _text(settings[k])) for k in _PG_SUBSET if k in settings]
    if not subset:
        subset = [(k, _text(v)) for k, v in sorted(settings.items())[:15]]
    return {
        "run_id": run.run_id,
        "status": run.status,
        "git_sha": _text(sha),
        "git_dirty": dirty is True,
        "started_at": _text(meta.get("started_at")),
        "finished_at": _text(meta.get("finished_at")),
        "versions": _pairs(meta.get("versions")),
        "machine": _pairs(meta.get("machine")),
        "cpu_plan": _pairs(meta.get("cpu_plan")),
        "variants": variants,
        "postgres_version": _text(pg.get("version") or settings.get("server_version")),
        "postgres_settings": subset,
        "config": _pairs(run.config),
        "config_json": json.dumps(run.config, sort_keys=True, indent=2, default=str),
        "meta_json": json.dumps(meta, sort_keys=True, indent=2, default=str),
    }


def _summary_rows(run: Run, summary: pd.DataFrame) -> list[dict[str, Any]]:
    index = {
        (r["variant"], r["endpoint"], r["metric"]): r for r in summary.to_dict(orient="records")
    }
    rows = []
    for v in run.variants:
        for e in [*run.endpoints, ALL]:
            if (v, e, "requests") not in index:
                continue
            get = lambda m, v=v, e=e: index.get((v, e, m))  # noqa: E731
            rows.append(
                {
                    "variant": v,
                    "colour": variant_colour(v),
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


def _control(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The control probe's figures per repetition round (``chatbench.control``), if measured."""
    section = meta.get("control")
    if not isinstance(section, Mapping):
        return None
    rows = []
    for c in section.get("repetitions") or []:
        if isinstance(c, Mapping):
            rows.append(
                {
                    "repetition": _text(c.get("repetition")),
                    "error": _text(c["error"]) if c.get("error") else "",
                    "ops_per_s": fmt_number(c.get("ops_per_s")),
                    "p50_ms": fmt_number(c.get("p50_ms")),
                    "cpus": ", ".join(str(x) for x in c.get("cpus") or []) or "not pinned",
                }
            )
    return {
        "probe": _text(section.get("probe")),
        "seconds": fmt_number(section.get("seconds")),
        "rows": rows,
    }


def _integrity(meta: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    items = meta.get("integrity")
    if not isinstance(items, list):
        return None
    out = []
    for it in items:
        if isinstance(it, Mapping):
            out.append(
                {
                    "variant": _text(it.get("variant")),
                    "repetition": _text(it.get("repetition")),
                    "expected": _text(it.get("expected")),
                    "actual": _text(it.get("actual")),
                    "ok": it.get("ok") is True,
                }
            )
    return out


def collect_warnings(run: Run, reps: pd.DataFrame, summary: pd.DataFrame) -> list[ReportWarning]:
    """Everything a reader must know before trusting the figures (pure; used by the report)."""
    out: list[ReportWarning] = []
    if run.status != "complete":
        out.append(
            ReportWarning(
                f"Run status is {run.status!r}, not 'complete': figures may be partial.", "error"
            )
        )
    if run.meta.get("error"):
        out.append(
            ReportWarning(f"The run stopped with an error: {_text(run.meta['error'])}", "error")
        )
    fairness = _fairness(run.meta)
    if fairness and fairness["violated"]:
        out.append(
            ReportWarning(f"Fairness rules violated: {', '.join(fairness['violated'])}.", "error")
        )
    for item in _integrity(run.meta) or []:
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
    # The run's own verdict (chatbench.loadhealth.LoadgenHealth), never judged again here: the
    # report, the fairness rule, compare and check name the same repetitions for one reason.
    invalid = [
        invalid_message(_text(x.get("variant")), x.get("repetition"), _text(x.get("reason")))
        for x in run.meta.get("invalid_repetitions") or []
        if isinstance(x, Mapping)
    ]
    out.extend(ReportWarning(message, "error") for message in invalid)
    for rep in run.repetitions:
        if rep.behind_schedule > 0:
            out.append(
                ReportWarning(
                    f"{rep.variant} repetition {rep.repetition}: {rep.behind_schedule} sends fell "
                    f"behind schedule (the load generator could not hold the rate)."
                )
            )
    out += interval_warnings(summary)
    for w in run.meta.get("warnings") or []:
        if w in invalid:  # the runner's copy of a sentence already shown as an error
            continue
        if isinstance(w, Mapping):
            out.append(
                ReportWarning(_text(w.get("message") or w), str(w.get("severity") or "warning"))
            )
        else:
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
    pngs = {p.stem: p for p in chart_dir.glob("*.png") if not p.name.startswith(".")}
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
        # The answer first: a suite's generated sentences (chatbench.suites.write_answer), or
        # a plain run's capacity and ratio (chatbench.answers).
        "answer": list((run.meta.get("suite") or {}).get("answer") or [])
        or list(run_answer(run).sentences),
        "crosscheck": _crosscheck(run.meta),
        "run": {
            "id": run.run_id,
            "scenario": run.scenario,
            "mode": run.mode,
            "status": run.status,
            "variants": [{"name": v, "colour": variant_colour(v)} for v in run.variants],
            "repetitions": len(n_reps),
        },
        "fairness": _fairness(run.meta),
        "sql_work": sqlwork.report_rows(dict(run.meta)),
        "config": _configuration(run),
        "summary_rows": _summary_rows(run, summary),
        "charts": _charts(path),
        "integrity": _integrity(run.meta),
        "control": _control(run.meta),
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


def rebuild(run_dir: str | os.PathLike[str]) -> Path:
    """summary.csv/json, a suite run's answer, every chart, report.html — from the raw data
    of a run directory."""
    run = load_run(run_dir)
    write_summary(run_dir, run)
    if isinstance(run.meta.get("suite"), Mapping):
        from chatbench.suites import refresh_answer  # the answer is analysis: suites owns it

        refresh_answer(Path(run_dir))
        run = load_run(run_dir)
    draw_all(run_dir, run)
    return write_report(run_dir, run)
