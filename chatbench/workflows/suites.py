"""``chatbench run --suite NAME``: a suite's grid as one interleaved run, then its answer.

The suite's question and grid go into the run's record from the start; once the run ended,
``report.analyse`` computes the answer (``answer.json``, the sentences in the record) and draws
the grid chart with the rest. A suite may accept fairness rules its question breaks by design
(``accept_unfair``): the run then finishes with a note instead of "not comparable".
"""

from __future__ import annotations

from chatbench.configuration.settings import RunConfig
from chatbench.configuration.suites import Suite
from chatbench.measuring.watch import Progress, RunHooks
from chatbench.storing.record import FairnessRecord, SuiteRecord
from chatbench.workflows.report import analyse
from chatbench.workflows.run import RunOutcome, execute, new_run_id, raise_if_unfair


def suite_record(suite: Suite) -> SuiteRecord:
    return SuiteRecord(
        name=suite.name,
        file=str(suite.path),
        grid={b: {a: list(v) for a, v in axes.items()} for b, axes in suite.grid.items()},
        accept_unfair=list(suite.accept_unfair),
        hold_constant=list(suite.hold_constant),
    )


def run(
    suite: Suite,
    cfg: RunConfig,
    *,
    progress: Progress | None = None,
    hooks: RunHooks | None = None,
    report: bool = True,
) -> RunOutcome:
    """Run the suite's grid, write its answer and report. The answer is written even when the
    run ends "not comparable" (its data is complete and the report says which rule failed)."""
    outcome = execute(
        cfg,
        progress=progress,
        hooks=hooks,
        run_id=new_run_id(cfg.variants, label=f"suite-{suite.name}"),
        question=suite.question,
        suite=suite_record(suite),
    )
    if report:
        analyse(outcome.run_dir, progress)
    note = unfair_by_design(suite, outcome.record.fairness)
    if note is not None:
        return RunOutcome(outcome.run_dir, outcome.record, (note,))
    raise_if_unfair(outcome, cfg)
    return outcome


def unfair_by_design(suite: Suite, fairness: FairnessRecord) -> str | None:
    """The note for a run whose violated rules are all ones ``suite`` breaks by design (its
    ``accept_unfair``); None when nothing was violated or something else was."""
    violated = set(fairness.violated)
    if not violated or not violated <= set(suite.accept_unfair):
        return None
    return (
        f"fairness rule(s) {', '.join(sorted(violated))} differ by design in the "
        f"{suite.name} suite (accept_unfair in {suite.path.name})"
    )
