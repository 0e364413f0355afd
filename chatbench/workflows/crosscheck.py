"""``chatbench crosscheck``: measure with Locust and wrk (throughput), or with Locust and the
open-model generator (``--open-model``: tails and SLO rates), judge their agreement, keep the
file."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatbench.analysing import slo, toolagreement
from chatbench.analysing.agreement import agreement
from chatbench.configuration.settings import RunConfig
from chatbench.errors import UsageError
from chatbench.measuring import crosscheck
from chatbench.measuring.watch import Progress
from chatbench.storing import crosschecks
from chatbench.storing import record as rec
from chatbench.storing.crosschecks import CrossCheckResult, write
from chatbench.workflows import bench


def run(
    cfg: crosscheck.CrossCheckConfig, out_dir: Path, *, announce: Callable[[str], None] = print
) -> tuple[CrossCheckResult, Path]:
    """Every variant in interleaved Locust/wrk pairs; the result and the file it went to."""
    measured = crosscheck.run(cfg, announce=announce)
    agreements = [agreement(v, measured.measurements) for v in cfg.variants]
    result = CrossCheckResult(cfg, measured.measurements, agreements, measured.meta)
    return result, write(result, out_dir)


def run_open(cfg: RunConfig, out_dir: Path, *, progress: Progress | None = None) -> tuple[dict[str, Any], Path]:  # fmt: skip
    """A run with its open-model cross-check (``--open-crosscheck``: the equal-load rates and
    the found SLO rates, Locust interleaved with the open-model generator), then its judgement
    kept as ``results/crosscheck/openmodel-*.json``, which later runs cite; the document and
    its path."""
    cfg = dataclasses.replace(cfg, open_crosscheck=True)
    outcome = bench.run(cfg, progress=progress)
    return keep_open(outcome.run_dir, out_dir)


def keep_open(run_dir: Path, out_dir: Path) -> tuple[dict[str, Any], Path]:
    """The judgement of a run's open-model cross-check, kept as
    ``results/crosscheck/openmodel-*.json`` (``chatbench crosscheck --open-model --from-run``);
    a run without one is a usage error."""
    record = rec.load(run_dir)
    if record.open_crosscheck is None or not record.open_crosscheck.windows:
        raise UsageError(f"{run_dir} has no open-model cross-check; run it with --open-crosscheck.")
    found = toolagreement.agreements(run_dir, record)
    under_slo = slo.slo_answer(run_dir, record)
    doc = {
        "started": record.started_at,
        "run_id": record.run_id,
        "scenario": record.config.scenario,
        "variants": list(record.config.variants),
        "git_sha": record.git.sha,
        "machine": record.machine.machine_class,
        "sentence": toolagreement.sentence(record, found),
        "agrees": bool(found) and all(a.verdict == toolagreement.AGREE for a in found),
        "agreements": [
            {"variant": a.variant, "target": a.label, "rate": a.rate, "metric": a.metric,
             "ratio": a.ratio.value, "low": a.ratio.low, "high": a.ratio.high, "pairs": a.pairs,
             "verdict": a.verdict}
            for a in found
        ],
        "slo": under_slo.sentence if under_slo is not None else None,
    }  # fmt: skip
    return doc, crosschecks.write_open(doc, out_dir)
