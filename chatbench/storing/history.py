"""The check history: one JSON line per `chatbench check`, so trends outlive single verdicts.

A single check answers "did this commit regress?"; the history answers "how did we get here?"
(slow drifts below any one check's threshold show up as a trend). ``results/history.jsonl`` is
append-only: one line per check, written with a single ``write`` so concurrent checks never
interleave half lines.

Line format: ``{"run_id", "git_sha", "date", "machine_class", "mode" ("baseline" | "ab"),
"reference", "passed", "status" ("no regression" | "regression" | "not comparable" |
"undecided"), "exit_code", "regressions": [names], "metrics": {variant: {endpoint: {metric:
median}}}, "base_sha", "ratios", "normalised"}``. What a check measured, for change-point detection over
the history (``chatbench.analysing.changepoints``):

* an A/B check: ``base_sha`` (the base commit measured beside the head) and ``ratios``:
  ``{framework: {endpoint: {metric: {"ratio", "low", "high", "interval", "outcome",
  "detectable"}}}}``, the head/base ratio of each verdict with its 95 % interval;
* a stored-baseline check: ``normalised``, the medians of the control-normalised figures
  beside the raw ones in ``metrics`` (absent when the run had no control values).

Lines written before these fields existed simply lack them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def record(
    *,
    run_id: str,
    git_sha: str | None,
    machine_class: str,
    mode: str,
    reference: str,
    passed: bool,
    regressions: list[str],
    metrics: dict[str, Any],
    base_sha: str | None = None,
    ratios: dict[str, Any] | None = None,
    normalised: dict[str, Any] | None = None,
    status: str | None = None,
    exit_code: int | None = None,
) -> dict[str, Any]:
    """One history line as a dict (dated now, UTC); the optional parts only when given."""
    extra = {
        k: v
        for k, v in (
            ("base_sha", base_sha),
            ("ratios", ratios),
            ("normalised", normalised),
            ("status", status),
            ("exit_code", exit_code),
        )
        if v is not None
    }
    return {
        **extra,
        "run_id": run_id,
        "git_sha": git_sha,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine_class": machine_class,
        "mode": mode,
        "reference": reference,
        "passed": passed,
        "regressions": regressions,
        "metrics": metrics,
    }


def append(path: str | Path, entry: dict[str, Any]) -> Path:
    """Append ``entry`` as one line (a single O_APPEND write)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, sort_keys=True, allow_nan=False, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return path


def read(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every well-formed line of a history file (a torn or foreign line is skipped)."""
    path = Path(path)
    if not path.is_file():
        return
    yield from parse(path.read_text(errors="replace"))


def parse(text: str) -> Iterator[dict[str, Any]]:
    """Every well-formed line of a history file's text (a torn or foreign line is skipped)."""
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            yield entry
