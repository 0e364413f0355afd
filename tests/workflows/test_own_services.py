"""Your own pair of services, end to end through the installed command: the example pair under
tests/example_pair (a Django project and its FastAPI port, declared in a variant file, driven by
a workload file, their contract checked from their own OpenAPI documents), run from its own
directory with its chatbench.toml, as docs/own-services.md walks through it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
CHATBENCH = REPO_ROOT / ".venv" / "bin" / "chatbench"
PAIR = REPO_ROOT / "tests" / "example_pair"


def test_the_example_pair_is_verified_and_measured_under_its_own_workload(
    pg_server_url: str, tmp_path: Path
) -> None:
    work = tmp_path / "notes"  # a project outside this checkout
    shutil.copytree(PAIR, work, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "results"
    command = [str(CHATBENCH), "run", "--warmup", "1", "--duration", "2", "--out", str(out)]
    command += ["--database-url", pg_server_url]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "complete"
    config, origins = meta["config"], meta["config"]["origins"]
    from_file = f"file {work / 'chatbench.toml'}"
    assert config["variants"] == ["notes-django", "notes-fastapi"]
    assert config["workload"] == str(work / "notes.toml") and config["scenario"] == "notes"
    assert origins["variants"] == origins["workload"] == origins["contract"] == from_file
    assert origins["warmup_s"] == "command line" and origins["repeat"] == "profile smoke"
    # The contract from their own documents held before anything was measured.
    contract = meta["contract"]
    assert contract["ok"] and contract["services"] == ["notes-django", "notes-fastapi"]
    assert contract["operations"] == {"notes-django": 4, "notes-fastapi": 4}
    assert contract["probes"] > 40
    # The bundled ChatMessage checks were not run against them.
    assert meta["verify"] == {"notes-django": [], "notes-fastapi": []}
    # Each service served the workload's three requests, none failed.
    summary = pd.read_csv(run_dir / "summary.csv")
    served = summary[summary["metric"] == "requests"]
    for variant in config["variants"]:
        mine = served[served["variant"] == variant]
        assert set(mine["endpoint"]) >= {"POST /notes", "GET /notes/{id}", "GET /notes"}, mine
    failures = summary[summary["metric"] == "failures"]
    assert len(failures) and (failures["value"] == 0).all(), failures
    assert "notes-django" in done.stdout and "notes-fastapi" in done.stdout
