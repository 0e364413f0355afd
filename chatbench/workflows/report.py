"""After a run: the summary, a suite's answer, every chart and ``report.html``.

``analyse`` is what ``chatbench run`` (and every check and suite) does once the measurement
ended: ``sqlwork.csv`` and ``rebuild``. ``rebuild`` is ``chatbench report DIR``: from the raw
data of a run directory, ``summary.csv``/``summary.json``, a suite run's answer (``answer.json``
and the sentences in its record), the charts and the report, so a redrawn report states its
answer with today's interval methods.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chatbench.analysing import openload, slo, sqltable, suite_answer
from chatbench.analysing.tables import write_summary
from chatbench.errors import ChatbenchError, ServerError
from chatbench.measuring.watch import Progress, Silent
from chatbench.presenting import charts, cpu_chart, report
from chatbench.storing import record as rec
from chatbench.storing.atomic import write_json_atomic
from chatbench.storing.rundir import load_run


def analyse(run_dir: str | os.PathLike[str], progress: Progress | None = None) -> Path:
    """``sqlwork.csv``, then ``rebuild``. A failure that is not the user's keeps the raw data,
    notes the failure in the record and says so in one sentence."""
    (progress or Silent()).phase("summarising, drawing charts, writing the report")
    path = Path(run_dir)
    sqltable.write_csv(path, rec.load(path).evidence)
    try:
        return rebuild(path)
    except ChatbenchError:
        raise
    except Exception as exc:  # the raw data is safe; say what failed and keep going
        record = rec.load(path)
        warning = f"report generation failed: {type(exc).__name__}: {exc}"
        rec.save(path, record.but(warnings=[*record.warnings, warning]))
        raise ServerError(f"The run finished but its report could not be written: {exc}") from exc


def rebuild(run_dir: str | os.PathLike[str]) -> Path:
    """summary.csv/json, a suite run's answer, every chart, report.html; returns the report."""
    run = load_run(run_dir)
    write_summary(run_dir, run)
    if run.record.suite is not None:
        refresh_answer(Path(run_dir))
        run = load_run(run_dir)
    charts.draw_all(run_dir, run)
    cpu_chart.draw(Path(run_dir), run)
    return report.write_report(run_dir, run)


def refresh_answer(run_dir: Path) -> dict[str, Any]:
    """A suite run's answer computed from its raw data and stored: answer.json, and the
    sentences and scenarios in the record's ``suite``."""
    run = load_run(run_dir)
    suite = run.record.suite or rec.SuiteRecord()
    result = suite_answer.answer(run)
    # A suite that measured tails (suites/gc.toml) or asked for an objective (suites/slo.toml).
    _, at_equal_load = openload.equal_load(run_dir, run.record)
    result["sentences"] = [*result["sentences"], *at_equal_load]
    under_slo = slo.slo_answer(run_dir, run.record)
    if under_slo is not None:
        result["sentences"] = [*result["sentences"], under_slo.sentence]
    result["suite"] = suite.name
    result["question"] = run.record.question
    write_json_atomic(run_dir / "answer.json", rec.stamped(result))
    suite = suite.but(answer=result["sentences"], scenarios=list(result["scenarios"]))
    rec.save(run_dir, run.record.but(suite=suite))
    return result


def read_answer(run_dir: Path) -> list[str]:
    """The answer sentences of a suite run (none when it has no answer)."""
    try:
        record = rec.load(run_dir)
    except ChatbenchError:
        return []
    return list(record.suite.answer or []) if record.suite else []
