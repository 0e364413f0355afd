"""Named baselines in ``results/baselines/``: saving one from a finished run, describing one.

``chatbench.baseline`` knows the file format; this module guards the door. A baseline is what
every later CI check is judged against, so a bad one does quiet damage for months: it must come
from a complete, non-A/B run with at least one valid repetition, its name must be a plain file
name (never a path that escapes the directory), and replacing a committed baseline must be a
deliberate act (``force``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbench import baseline as baseline_mod
from chatbench.errors import UsageError

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def validate_name(name: str) -> str:
    """The baseline name without a trailing ``.json``; a usage error unless it is a plain file
    name made of letters, digits, ``-``, ``_`` and ``.`` (not starting with a dot)."""
    stem = name.removesuffix(".json")
    if not _SAFE_NAME.fullmatch(stem) or len(stem) > 100:
        raise UsageError(
            f"Baseline name {name!r} is not a safe file name: use letters, digits, '-', '_' and "
            "'.' only (not starting with a dot, no path separators, at most 100 characters)."
        )
    return stem


def path_for(name: str, directory: Path = baseline_mod.BASELINES_DIR) -> Path:
    """Where the baseline called ``name`` lives."""
    return Path(directory) / f"{validate_name(name)}.json"


def resolve(name_or_file: str, directory: Path = baseline_mod.BASELINES_DIR) -> Path:
    """An existing file as given, else the named baseline in ``directory``."""
    as_file = Path(name_or_file)
    if as_file.is_file():
        return as_file
    if "/" in name_or_file:
        return as_file  # a path that does not exist: baseline.load says so
    return path_for(name_or_file, directory)


def require_complete_run(run_dir: Path) -> dict[str, Any]:
    """meta.json of a run fit to be a baseline; a one-sentence usage error otherwise."""
    from chatbench import ab

    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise UsageError(f"Run directory {run_dir} does not exist.")
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a directory, so it is not a chatbench run.")
    meta_path = run_dir / "meta.json"
    if not meta_path.is_file():
        raise UsageError(f"{run_dir} is not a chatbench run directory (no meta.json).")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise UsageError(
            f"{run_dir} is not a chatbench run (meta.json is not valid JSON)."
        ) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise UsageError(f"{run_dir} is not a chatbench run (meta.json has no config).")
    status = meta.get("status")
    if status != "complete":
        raise UsageError(
            f"Run {run_dir} is marked {status or 'with no status'!r}; a baseline needs a "
            "complete run."
        )
    if ab.is_ab_run(run_dir):
        raise UsageError(
            f"Run {run_dir} is an A/B run (variants @base/@head); a baseline needs a plain run."
        )
    return meta


def save_from_run(
    run_dir: Path,
    name: str,
    *,
    directory: Path = baseline_mod.BASELINES_DIR,
    force: bool = False,
) -> tuple[Path, baseline_mod.Summary]:
    """Write ``directory/<name>.json`` from a complete run; refuse to overwrite unless ``force``."""
    target = path_for(name, directory)
    require_complete_run(run_dir)
    if target.exists() and not force:
        raise UsageError(f"Baseline {target} already exists; pass --force to replace it.")
    summary = baseline_mod.from_run(run_dir)
    if not summary.values:
        raise UsageError(
            f"Run {run_dir} has no valid repetition to keep (all excluded or empty); "
            "a baseline needs at least one."
        )
    return baseline_mod.save(summary, target, name=target.stem), summary


@dataclass(frozen=True)
class Description:
    """What a baseline holds, for ``chatbench baseline show``."""

    path: Path
    name: str
    created_at: str
    run_id: str
    git_sha: str | None
    settings: dict[str, Any]
    repetitions: dict[str, int]  # variant → valid repetitions kept
    endpoints: list[str]
    metrics: list[str]
    excluded: list[dict[str, Any]]


def describe(path: Path) -> Description:
    """Read and validate a baseline file (usage error if bad) and summarise what it holds."""
    summary = baseline_mod.load(path)
    doc = json.loads(Path(path).read_text())
    endpoints = sorted({e for eps in summary.values.values() for e in eps})
    metrics = sorted({m for eps in summary.values.values() for ms in eps.values() for m in ms})
    repetitions = {
        v: max((len(vals) for ms in eps.values() for vals in ms.values()), default=0)
        for v, eps in summary.values.items()
    }
    return Description(
        path=Path(path),
        name=str(doc.get("name") or Path(path).stem),
        created_at=str(doc.get("created_at") or "unknown"),
        run_id=summary.run_id,
        git_sha=summary.git_sha,
        settings=summary.settings,
        repetitions=repetitions,
        endpoints=endpoints,
        metrics=metrics,
        excluded=summary.excluded,
    )
