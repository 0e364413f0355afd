"""``chatbench run`` (and ``make bench``): measure, then report.

``run`` = ``workflows.run.execute`` + ``workflows.report.analyse``; a run whose fairness rules
were violated is still reported before it is refused (``NotComparable``, exit 3, unless
``--allow-unfair``). ``report=False`` measures only (tests use it: drawing costs seconds).
"""

from __future__ import annotations

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
