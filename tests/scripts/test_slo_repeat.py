"""scripts/slo_repeat.py on a fake runner: every run kept, a run that is not comparable tried
again and listed, a harness fault stopping the repetition, the agreement of the answers."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

from chatbench.configuration.paths import REPO_ROOT

SAMPLE = REPO_ROOT / "results" / "sample"
_spec = importlib.util.spec_from_file_location(
    "slo_repeat", REPO_ROOT / "scripts" / "slo_repeat.py"
)
slo_repeat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slo_repeat)


def _fake(codes: list[int], calls: list[tuple[list[str], Path]]):
    """A runner answering with the committed sample (exit 0) or leaving a partial run."""
    codes_left = iter(codes)

    def run(arguments: list[str], out: Path) -> tuple[int, str]:
        calls.append((arguments, out))
        code = next(codes_left)
        out.mkdir(parents=True)
        if code == 0:
            shutil.copytree(SAMPLE, out / SAMPLE.name)
            return 0, "done"
        (out / "partial-run").mkdir()
        return (
            code,
            "fairness: loadgen_headroom violated\nnot comparable: the load generator fell behind",
        )

    return run


def test_a_run_that_is_not_comparable_is_tried_again_and_every_attempt_kept(tmp_path: Path) -> None:
    calls: list = []
    runner = _fake([0, 3, 0], calls)
    code = slo_repeat.main(["--runs", "2", "--out", str(tmp_path / "slo"), "--keep",
                            str(tmp_path / "kept")], runner=runner)  # fmt: skip
    assert code == 0
    assert [out.name for _, out in calls] == ["run-1", "run-2", "run-2-attempt-2"]
    assert all(out.is_dir() for _, out in calls)  # every attempt kept, the failed one too
    assert calls[0][0][:3] == ["run", "--profile", "tails"] and "--slo" in calls[0][0]
    (saved,) = (tmp_path / "slo").glob("slo-repeat-*.json")
    doc = json.loads(saved.read_text())
    assert len(doc["runs"]) == 2
    (failed,) = doc["failed_attempts"]
    assert (failed["run"], failed["attempt"], failed["exit_code"]) == (2, 1, 3)
    assert failed["said"] == "not comparable: the load generator fell behind"
    # Both runs are the sample, so each pair agrees exactly when the bracket is a stable one.
    stable = {v: b["stable"] for v, b in doc["runs"][0]["variants"].items()}
    assert {r["between"] for r in doc["agreement"]} >= {"run 1 and run 2"}
    for row in doc["agreement"]:
        assert row["agree"] is stable[row["variant"]]


def test_a_fault_of_the_harness_stops_and_saves_nothing(tmp_path: Path, capsys) -> None:
    calls: list = []
    code = slo_repeat.main(["--out", str(tmp_path / "slo"), "--keep", str(tmp_path / "kept")],
                           runner=_fake([0, 1], calls))  # fmt: skip
    assert code == 1 and len(calls) == 2  # exit 1 is not retried
    assert not (tmp_path / "slo").exists()
    assert "only 1 of 2 runs answered; nothing saved" in capsys.readouterr().out
    assert (tmp_path / "kept" / "run-2" / "partial-run").is_dir()
