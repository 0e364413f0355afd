"""scripts/slo_repeat.py on a fake runner: every run kept, a run that is not comparable tried
again and listed, a harness fault stopping the repetition, which answers agree, and the block
docs/reading-the-report.md renders from the file it saves."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from chatbench.configuration.paths import REPO_ROOT
from chatbench.presenting.findings import render_slo_repeat
from tests.fixtures.runs import RUN_SMALL

# A committed run that searched p99=50ms: what the script holds a fresh run against.
SAMPLE = REPO_ROOT / "tests" / "fixtures" / "sample_2026_11_30"

_spec = importlib.util.spec_from_file_location(
    "slo_repeat", REPO_ROOT / "scripts" / "slo_repeat.py"
)
slo_repeat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slo_repeat)


def _bracket(low: float | None, high: float | None, stable: bool = True) -> dict:
    return {"low": low, "high": high, "stable": stable, "confirmed": False,
            "at_ceiling": False, "why_not": "" if stable else "no stable answer: swing"}  # fmt: skip


SAMPLE_BRACKETS = {"django": _bracket(500, 550), "fastapi": _bracket(563, 588, stable=False)}
RUN_BRACKETS = [
    {"django": _bracket(520, 560), "fastapi": _bracket(600, 650)},
    {"django": _bracket(600, 650), "fastapi": _bracket(640, 700)},
]


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each answered run's brackets in turn; the sample's its own."""
    queue = iter(RUN_BRACKETS)
    monkeypatch.setattr(slo_repeat, "SAMPLE", SAMPLE)
    monkeypatch.setattr(slo_repeat, "brackets",
                        lambda run_dir: SAMPLE_BRACKETS if run_dir == SAMPLE else next(queue))  # fmt: skip


def _fake(codes: list[int], calls: list[Path]):
    """A runner that answers with a small committed run (exit 0) or leaves a partial one."""
    codes_left = iter(codes)

    def run(arguments: list[str], out: Path) -> tuple[int, str]:
        assert arguments[:3] == ["run", "--profile", "tails"] and "--slo" in arguments
        calls.append(out)
        code = next(codes_left)
        out.mkdir(parents=True)
        if code == 0:
            shutil.copytree(RUN_SMALL, out / RUN_SMALL.name)
            return 0, "done"
        (out / "partial-run").mkdir()
        return (
            code,
            "fairness: loadgen_headroom violated\nnot comparable: the generator fell behind",
        )

    return run


def test_a_run_that_is_not_comparable_is_tried_again_and_every_attempt_listed(
    tmp_path: Path, answers: None
) -> None:
    calls: list[Path] = []
    keep = tmp_path / "kept"
    code = slo_repeat.main(["--out", str(tmp_path / "slo"), "--keep", str(keep)],
                           runner=_fake([0, 3, 0], calls))  # fmt: skip
    assert code == 0
    assert [p.relative_to(keep).as_posix() for p in calls] == ["run-1", "run-2", "run-2-attempt-2"]
    assert (keep / "run-2" / "partial-run").is_dir()  # the failed attempt is kept, not removed
    (saved,) = (tmp_path / "slo").glob("slo-repeat-*.json")
    doc = json.loads(saved.read_text())
    assert [r["variants"] for r in doc["runs"]] == RUN_BRACKETS
    (failed,) = doc["failed_attempts"]
    assert (failed["run"], failed["attempt"], failed["exit_code"]) == (2, 1, 3)
    assert failed["said"] == "not comparable: the generator fell behind"
    agree = {(r["variant"], r["between"]): r["agree"] for r in doc["agreement"]}
    assert agree == {
        ("django", "run 1 and run 2"): False,  # 520–560 and 600–650 cannot hold one rate
        ("fastapi", "run 1 and run 2"): True,  # 600–650 and 640–700 can
        ("django", "the sample and run 1"): True,
        ("django", "the sample and run 2"): False,
        ("fastapi", "the sample and run 1"): False,  # the sample has no stable answer
        ("fastapi", "the sample and run 2"): False,
    }
    # The generated block of docs/reading-the-report.md says all of it.
    block = render_slo_repeat(tmp_path / "slo")
    assert "run 2 times" in block and "| the sample | 500–550 req/s | no stable answer" in block
    assert "| run 2 | 600–650 req/s | 640–700 req/s |" in block
    assert "django, run 1 and run 2: do NOT agree; fastapi, run 1 and run 2: agree" in block
    assert ("Attempts that did not answer (kept, not counted): run 2, attempt 1: exit 3 "
            "(not comparable: the generator fell behind).") in block  # fmt: skip


def test_a_fault_of_the_harness_stops_and_saves_nothing(
    tmp_path: Path, answers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[Path] = []
    code = slo_repeat.main(["--out", str(tmp_path / "slo"), "--keep", str(tmp_path / "kept")],
                           runner=_fake([0, 1], calls))  # fmt: skip
    assert code == 1 and len(calls) == 2  # exit 1 is not tried again
    assert not (tmp_path / "slo").exists()
    assert "only 1 of 2 runs answered; nothing saved" in capsys.readouterr().out


def test_a_directory_that_holds_runs_is_not_reused(tmp_path: Path) -> None:
    (tmp_path / "kept" / "run-1").mkdir(parents=True)
    with pytest.raises(SystemExit) as stop:
        slo_repeat.main(["--keep", str(tmp_path / "kept")], runner=_fake([], []))
    assert stop.value.code == 2


def test_brackets_agree_when_they_can_hold_the_same_rate() -> None:
    assert slo_repeat.overlap(_bracket(500, 550), _bracket(540, 600))
    assert not slo_repeat.overlap(_bracket(500, 550), _bracket(550, 600))  # [low, high)
    assert slo_repeat.overlap(_bracket(500, None), _bracket(900, 950))  # open above
    assert not slo_repeat.overlap(_bracket(500, 550), _bracket(500, 550, stable=False))
