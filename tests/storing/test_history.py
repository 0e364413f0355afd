"""The check history (``chatbench.storing.history``): one JSON line per check, torn lines skipped."""

from __future__ import annotations

from pathlib import Path

from chatbench.storing import history


def test_history_lines_append(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    for i in range(2):
        history.append(path, history.record(
            run_id=f"r{i}", git_sha="abc", machine_class="m", mode="baseline", reference="b",
            passed=True, regressions=[], metrics={"fastapi": {"ALL": {"rps": 1.0}}},
        ))  # fmt: skip
    path.write_text(path.read_text() + "torn li")
    assert [e["run_id"] for e in history.read(path)] == ["r0", "r1"]
