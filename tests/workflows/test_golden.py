"""What a run leaves behind, compared with a committed golden list (tests/fixtures/run_shape.py
says what a list holds and how to regenerate one).

This file holds ``smoke_suite.json``. The other three lists are held against runs other tests
make anyway, so that no run is made twice: ``smoke_run.json`` in tests/workflows/test_run.py's
smoke run, ``smoke_ab.json`` in tests/workflows/test_ab.py's slowed-head A/B check,
``smoke_check.json`` in tests/workflows/test_check.py's check of an injected slowdown.
"""

from __future__ import annotations

from pathlib import Path

from chatbench import cli
from tests.fixtures.run_shape import GOLDEN, assert_same_shape


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
