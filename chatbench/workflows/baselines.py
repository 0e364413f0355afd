"""``chatbench baseline save``: a named baseline from a finished run, behind its guards.

A baseline is what every later CI check is judged against, so a bad one does quiet damage for
months: it must come from a complete, non-A/B run with at least one valid repetition, and
replacing a committed one must be a deliberate act (``force``). The file format and the names
are ``storing.baselines``'.
"""

from __future__ import annotations

from pathlib import Path

from chatbench.analysing import figures
from chatbench.configuration.paths import BASELINES_DIR
from chatbench.errors import UsageError
from chatbench.storing import baselines
from chatbench.storing import record as rec


def require_complete_run(run_dir: Path) -> rec.RunRecord:
    """The record of a run fit to be a baseline; a one-sentence usage error otherwise."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise UsageError(f"Run directory {run_dir} does not exist.")
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a directory, so it is not a chatbench run.")
    record = rec.load(run_dir)
    if "config" not in record.model_fields_set:
        raise UsageError(f"{run_dir} is not a chatbench run (meta.json has no config).")
    if record.status != "complete":
        status = record.status if "status" in record.model_fields_set else ""
        raise UsageError(
            f"Run {run_dir} is marked {status or 'with no status'!r}; a baseline needs a "
            "complete run."
        )
    if record.is_ab:
        raise UsageError(
            f"Run {run_dir} is an A/B run (variants @base/@head); a baseline needs a plain run."
        )
    return record


def save_from_run(
    run_dir: Path, name: str, *, directory: Path = BASELINES_DIR, force: bool = False
) -> tuple[Path, baselines.Summary]:
    """Write ``directory/<name>.json`` from a complete run; refuse to overwrite unless ``force``."""
    target = baselines.path_for(name, directory)
    require_complete_run(run_dir)
    if target.exists() and not force:
        raise UsageError(f"Baseline {target} already exists; pass --force to replace it.")
    summary = figures.from_run(run_dir)
    if not summary.values:
        raise UsageError(
            f"Run {run_dir} has no valid repetition to keep (all excluded or empty); "
            "a baseline needs at least one."
        )
    return baselines.save(summary, target, name=target.stem), summary
