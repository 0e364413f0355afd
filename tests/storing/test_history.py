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


def test_a_check_records_what_it_measured(tmp_path: Path) -> None:
    """An A/B check: the base commit and each verdict's head/base ratio with its interval;
    a stored-baseline check: the normalised medians beside the raw ones."""
    from chatbench.storing import baselines
    from chatbench.workflows import check as check_mod

    base = [500.0, 650.0, 380.0, 610.0]
    head = [490.0, 640.0, 370.0, 600.0]
    side = {"fastapi": {"ALL": {"rps": base}}}
    result = check_mod.compare(
        baselines.Summary(values=side, settings={}, run_id="r"),
        baselines.Summary(values={"fastapi": {"ALL": {"rps": head}}}, settings={}, run_id="r"),
        rule=check_mod.ab_rule(paired=True),
    )
    result.reference_sha = "b" * 40
    cand = baselines.Summary(
        values={"fastapi": {"ALL": {"rps": head}}}, settings={"machine_class": "m"},
        run_id="r1", git_sha="h" * 40, normalised={"fastapi": {"ALL": {"rps": [0.1, 0.3]}}},
    )  # fmt: skip
    path = tmp_path / "h.jsonl"
    check_mod.record_history(result, cand, history_path=path, mode="ab")
    check_mod.record_history(result, cand, history_path=path, mode="baseline")
    ab, stored = history.read(path)
    cell = ab["ratios"]["fastapi"]["ALL"]["rps"]
    f = result.findings[0]
    assert ab["base_sha"] == "b" * 40 and ab["git_sha"] == "h" * 40
    assert (cell["ratio"], cell["low"], cell["high"]) == (f.ratio.value, f.ratio.low, f.ratio.high)
    assert cell["interval"] == "paired-t-log" and cell["catchable_change"] < 0
    assert "normalised" not in ab and "ratios" not in stored
    assert stored["normalised"] == {"fastapi": {"ALL": {"rps": 0.2}}}
