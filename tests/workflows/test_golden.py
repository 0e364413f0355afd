"""What a smoke run leaves behind, compared with a committed golden list.

The golden lists (``tests/fixtures/golden/*.json``) were taken from runs of the harness
before its restructuring (issue 20): the files of a run directory, summary.csv's columns and
every key path of meta.json (a map keyed by variant, repetition or setting is written ``*``,
a list ``[]``). A run today must leave the same: a renamed key, a lost file or column fails
here. Keys that only appear when something happens (a saturated load generator's
``invalid_repetitions``) are listed as optional.

Regenerate a golden list (only when a change of the files is intended): from a run directory,
``python -m tests.workflows.test_golden RUN_DIR tests/fixtures/golden/NAME.json``; or run the
tests that hold them with ``CHATBENCH_GOLDEN_WRITE=1``, which writes what each run left instead
of comparing (the committed lists were written so against the pre-restructuring tree).

This file holds ``smoke_suite.json``. The other three lists are held against runs other tests
make anyway, so that no run is made twice: ``smoke_run.json`` in tests/workflows/test_run.py's
smoke run, ``smoke_ab.json`` in tests/workflows/test_ab.py's slowed-head A/B check,
``smoke_check.json`` in tests/workflows/test_check.py's check of an injected slowdown.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from chatbench import cli

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
# Dicts whose keys are data (variants, repetitions, settings, endpoints), not the format.
MAPS = {
    "affinity", "axes", "connection_samples", "env", "grid", "limits", "loadgen_health",
    "packages", "peak_connections", "per_endpoint", "pg_settings_by_db", "service_probes",
    "settings", "sql", "sql_per_endpoint", "stats", "variants", "verify", "versions", "windows",
    "service_env", "targets", "origins", "pauses", "services",
}  # fmt: skip
# Appear only when something happens: a repetition's load generator saturated, a fairness
# rule could not be checked, a control probe failed, the machine was not quiet before the run,
# a variant was given an environment.
OPTIONAL = {
    "invalid_repetitions", "invalid_repetitions[].reason", "invalid_repetitions[].repetition",
    "invalid_repetitions[].variant", "invalid_repetitions[].loadgen_fault",
    "fairness.not_checked", "control.repetitions[].error",
    # what the survey before the run found: leftovers of earlier runs, busy processes
    "preflight.leftovers[].kind", "preflight.leftovers[].what", "preflight.leftovers[].owner_pid",
    "preflight.leftovers[].owner_alive", "preflight.leftovers[].live",
    "preflight.leftovers[].cleaned", "preflight.busy[].pid", "preflight.busy[].name",
    "preflight.busy[].cpu_percent", "preflight.busy[].cpus",
    # what --service-env gave a variant (variant -> variable -> value: both levels data)
    "config.service_env.*", "config.service_env.*.*",
}  # fmt: skip
# Maps whose values are maps keyed by data too.
NESTED_MAPS = {"service_env"}


def key_paths(doc: Any, path: str = "", parent: str = "") -> set[str]:
    """Every key path of a JSON document (see the module docstring)."""
    found: set[str] = set()
    if isinstance(doc, dict):
        for key, value in doc.items():
            name = "*" if parent in MAPS else key
            here = f"{path}.{name}" if path else name
            inner = "env" if parent in NESTED_MAPS else ""  # "env" is a map: its keys are data
            found |= {here} | key_paths(value, here, key if name != "*" else inner)
    elif isinstance(doc, list):
        for item in doc:
            found |= key_paths(item, f"{path}[]", parent)
    return found


def files(run_dir: Path) -> list[str]:
    """The run directory's files, variant, repetition and process id written ``*``."""
    out = set()
    for p in run_dir.rglob("*"):
        if p.is_file():
            rel = p.relative_to(run_dir).as_posix()
            rel = re.sub(r"^raw/[^/]+/rep-\d+/", "raw/*/rep-*/", rel)
            rel = re.sub(r"^services/[^/]+/", "services/*/", rel)  # a long-lived service's own
            out.add(re.sub(r"/gc-\d+\.jsonl$", "/gc-*.jsonl", rel))  # one pause log per pid
    return sorted(out)


def shape(run_dir: Path) -> dict[str, list[str]]:
    with open(run_dir / "summary.csv", newline="") as fh:
        columns = next(csv.reader(fh))
    meta = json.loads((run_dir / "meta.json").read_text())
    return {
        "files": files(run_dir),
        "summary_columns": columns,
        "meta_keys": sorted(key_paths(meta) - OPTIONAL),
    }


def assert_same_shape(run_dir: Path, golden: Path) -> None:
    if os.environ.get("CHATBENCH_GOLDEN_WRITE") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(shape(run_dir), indent=1) + "\n")
        return
    want = json.loads(golden.read_text())
    got = shape(run_dir)
    assert got["files"] == want["files"]
    assert got["summary_columns"] == want["summary_columns"]
    assert sorted(set(got["meta_keys"]) ^ set(want["meta_keys"])) == []


def test_a_smoke_suite_run_leaves_the_golden_files_columns_and_keys(
    pg_server_url: str, tmp_path: Path
) -> None:
    code = cli.main([
        "run", "--suite", "pooling", "--profile", "smoke", "--warmup", "0.5", "--duration", "1",
        "--database-url", pg_server_url, "--out", str(tmp_path), "--allow-unfair",
    ])  # fmt: skip
    assert code == 0
    (run_dir,) = tmp_path.iterdir()
    assert_same_shape(run_dir, GOLDEN / "smoke_suite.json")


if __name__ == "__main__":  # python -m tests.workflows.test_golden RUN_DIR GOLDEN_FILE
    run_dir, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(shape(run_dir), indent=1) + "\n")
