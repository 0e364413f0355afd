"""scripts/gate_noise.py: the runner-noise table docs/ci-gate.md quotes, from finished runs."""

from __future__ import annotations

import importlib.util
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "results" / "sample" / "caching"  # a run with control values, 2 repetitions

spec = importlib.util.spec_from_file_location("gate_noise", REPO / "scripts" / "gate_noise.py")
gate_noise = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate_noise)


def test_within_run_cv_is_the_summarys_and_identical_runs_do_not_differ(tmp_path: Path) -> None:
    runs = [SAMPLE, shutil.copytree(SAMPLE, tmp_path / "copy")]
    rows = gate_noise.noise_rows(runs)
    summary = pd.read_csv(SAMPLE / "summary.csv")
    cv = summary[summary["endpoint"] == "ALL"].set_index(["variant", "metric"])["cv"]
    assert {r["figures"] for r in rows} == {"raw", "normalised"}
    assert len(rows) == 2 * summary["variant"].nunique()
    for row in rows:
        for metric in gate_noise.METRICS:
            within, between = row[metric]
            assert between == pytest.approx(0.0, abs=1e-12)  # the same run twice
            if row["figures"] == "raw":
                assert within == pytest.approx(cv[(row["variant"], metric)], rel=1e-4)
            else:
                assert math.isfinite(within) and within >= 0
    table = gate_noise.to_markdown(rows)
    assert table.count("\n") == len(rows) + 1 and "| rps | p95 | p99 |" in table


def test_a_path_that_is_not_a_run_exits_2(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        gate_noise.main([str(SAMPLE), str(tmp_path / "nope")])
    assert stop.value.code == 2
    assert "not a run directory" in capsys.readouterr().err
