"""What a report tells its reader beside the figures: warnings to act on, notes to know.

A warning that is not acted on teaches a reader to skip warnings, so only what needs the
reader's action is one: a run that did not complete or stopped with an error, a fairness rule
violated, rows that do not add up, an error rate above ``ERROR_RATE_LIMIT``, repetitions the
load generator invalidated, a competing process or no CPU pinning. Everything the answers
already account for — a wide interval, fewer than 3 repetitions, an overloaded repetition
(its latency a lower bound, never compared), sends behind schedule, leftovers of earlier runs —
is a note. ``collect`` returns both, pure, in the order a reader should see them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from chatbench.analysing.stats import CI_METHODS
from chatbench.configuration.endpoints import short as endpoint_short
from chatbench.load.health import invalid_message
from chatbench.storing.rundir import Run

ERROR_RATE_LIMIT = 0.01
CI_WIDTH_LIMIT = 0.20
_CI_CHECKED = ("rps", "p50", "p95", "p99", "req_per_cpu_s")
ERROR, WARNING, NOTE = "error", "warning", "note"
# The run's own warnings (``meta.json`` ``warnings``) that need no action: the answers already
# account for them, or they describe what an earlier run left behind.
_NOTED = (
    "Found before the run",
    "latency at equal offered load not measured",
)
_NOTED_WORDS = ("overloaded",)


@dataclass(frozen=True)
class ReportWarning:
    """One line the report shows beside its figures: ``severity`` is ``error`` or ``warning``
    (the reader must act) or ``note`` (the reader should know)."""

    message: str
    severity: str = WARNING

    @property
    def needs_action(self) -> bool:
        return self.severity != NOTE


def _run_warning(text: str) -> ReportWarning:
    noted = text.startswith(_NOTED) or any(word in text for word in _NOTED_WORDS)
    return ReportWarning(text, NOTE if noted else WARNING)


def collect(
    run: Run, reps: pd.DataFrame, summary: pd.DataFrame, *, violated: list[str] | None = None
) -> list[ReportWarning]:
    """Every warning and note of a run, warnings first (``violated``: the fairness rules the
    run broke, as the report's Fairness section lists them)."""
    out: list[ReportWarning] = []
    meta = run.record
    if run.status != "complete":
        out.append(
            ReportWarning(
                f"Run status is {run.status!r}, not 'complete': figures may be partial.", ERROR
            )
        )
    if meta.error:
        out.append(ReportWarning(f"The run stopped with an error: {meta.error}", ERROR))
    if violated:
        out.append(ReportWarning(f"Fairness rules violated: {', '.join(violated)}.", ERROR))
    for item in meta.integrity:
        if not item.ok:
            out.append(
                ReportWarning(
                    f"Integrity: {item.variant} repetition {item.repetition} has {item.actual} rows, "
                    f"expected {item.expected}.",
                    ERROR,
                )
            )
    if not reps.empty:
        err = reps[(reps["metric"] == "error_rate") & (reps["value"] > ERROR_RATE_LIMIT)]
        for r in err.itertuples():
            out.append(
                ReportWarning(
                    f"{r.variant} repetition {r.repetition}, {endpoint_short(r.endpoint)}: error "
                    f"rate {r.value * 100:.1f} % (> {ERROR_RATE_LIMIT * 100:.0f} %)."
                )
            )
    # The run's own verdict (chatbench.load.health.LoadgenHealth), never judged again here: the
    # report, the fairness rule, compare and check name the same repetitions for one reason.
    invalid = [invalid_message(x.variant, x.repetition, x.reason) for x in meta.invalid_repetitions]
    out.extend(ReportWarning(message, ERROR) for message in invalid)
    for rep in run.repetitions:
        if rep.rate is not None and rep.rate.overloaded:
            out.append(
                ReportWarning(
                    f"{rep.variant} repetition {rep.repetition} was overloaded: "
                    f"{rep.rate.describe()}; its latency is a lower bound, never compared.",
                    NOTE,
                )
            )
        elif rep.behind_schedule > 0:
            out.append(
                ReportWarning(
                    f"{rep.variant} repetition {rep.repetition}: {rep.behind_schedule} sends fell "
                    "behind schedule (a user still waited for its previous response, or the load "
                    "generator was late); every latency counts from the intended send time.",
                    NOTE,
                )
            )
    out += interval_notes(summary)
    out += [_run_warning(str(w)) for w in meta.warnings if w not in invalid]
    return sorted(out, key=lambda w: not w.needs_action)


def interval_notes(summary: pd.DataFrame) -> list[ReportWarning]:
    """95 % CIs wider than ``CI_WIDTH_LIMIT`` of their value (only rows whose bounds ARE a CI),
    and one line when figures rest on fewer than 3 repetitions (a range of 2, or none): notes,
    since the answers already say which differences their intervals support."""
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
                    "measurement would tighten it.",
                    NOTE,
                )
            )
    few = checked[checked["n"].between(1, 2)]
    if not few.empty:
        out.append(
            ReportWarning(
                f"{', '.join(dict.fromkeys(few['variant']))}: fewer than 3 repetitions, so their "
                "figures have no 95 % CI (with 2, the range of the 2 values is shown); rerun with "
                "--repeat 3 or more (5 recommended) before drawing conclusions.",
                NOTE,
            )
        )
    return out
