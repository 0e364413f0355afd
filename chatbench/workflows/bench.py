"""``chatbench run`` (and ``make bench``): measure, then report.

``run`` = ``workflows.run.execute`` + ``workflows.report.analyse``; a run whose fairness rules
were violated is still reported before it is refused (``NotComparable``, exit 3, unless
``--allow-unfair``). ``report=False`` measures only (tests use it: drawing costs seconds).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from chatbench.configuration.settings import RunConfig
from chatbench.measuring.watch import Progress, RunHooks
from chatbench.workflows.report import analyse
from chatbench.workflows.run import RunOutcome, execute, raise_if_unfair


def run(
    cfg: RunConfig,
    *,
    progress: Progress | None = None,
    hooks: RunHooks | None = None,
    report: bool = True,
) -> RunOutcome:
    """Run one benchmark, write its report, and return where its results are."""
    outcome = execute(cfg, progress=progress, hooks=hooks)
    if report:
        analyse(outcome.run_dir, progress)
    raise_if_unfair(outcome, cfg)
    return outcome


def judged_run(cfg: RunConfig, progress: Progress | None = None, *, report: bool = True) -> Path:
    """A run the CI gate judges: fairness violations are recorded and judged by the gate
    (``analysing.figures.from_run`` excludes or notes them), never fatal, so the gate always
    has a verdict. Returns its run directory."""
    cfg = dataclasses.replace(cfg, allow_unfair=True)
    return run(cfg, progress=progress, report=report).run_dir
