"""`chatbench baseline save|show`: a named baseline from a finished run, and the guards on it.

A baseline judges every later check, so the tests prove the round trip (the saved file is what
`check --run` accepts and passes against) and that each way of making a bad one — an unsafe
name, a missing, foreign or unfinished run, a silent overwrite — stops with exit 2 and one
sentence. The run is the committed fixture ``run_small`` (2 repetitions; no load runs here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbench import cli
from chatbench.analysing import figures
from chatbench.configuration.paths import DEFAULT_BASELINE
from chatbench.storing import baselines as baseline_mod
from tests.fixtures.runs import copy_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return copy_run("run_small", tmp_path / "run")


def _run_id(run: Path) -> str:
    return json.loads((run / "meta.json").read_text())["run_id"]


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return " ".join(err.split())


def _save(run: Path, name: str, directory: Path, *extra: str) -> int:
    return cli.main(["baseline", "save", str(run), "--name", name, "--dir", str(directory), *extra])


def test_saved_baseline_round_trips_and_the_run_passes_against_it(
    run_dir: Path, tmp_path: Path, capsys
) -> None:
    directory = tmp_path / "baselines"
    assert _save(run_dir, "tiny", directory) == 0
    path = directory / "tiny.json"
    assert f"Baseline written: {path} " in capsys.readouterr().out
    doc = json.loads(path.read_text())
    assert doc["name"] == "tiny" and doc["run_id"] == _run_id(run_dir)
    loaded = baseline_mod.load(path)
    assert loaded.values == figures.from_run(run_dir).values
    assert len(loaded.values["django"]["ALL"]["rps"]) == 2  # one value per repetition
    assert loaded.settings["machine_class"] and loaded.settings["profile"] == "smoke"

    hist = tmp_path / "history.jsonl"
    code = cli.main([
        "check", "--run", str(run_dir), "--baseline", str(path), "--history", str(hist),
        "--min-repetitions", "3",
    ])  # fmt: skip
    # 2 repetitions a side: ranges only, so every verdict is undecided (exit 4), none failed.
    assert code == 4, capsys.readouterr()
    assert "UNDECIDED" in (run_dir / "verdict.md").read_text()

    made = tmp_path / "via-check.json"  # the older way writes the same figures
    assert (
        cli.main(["check", "--update-baseline", "--run", str(run_dir), "--baseline", str(made)])
        == 0
    )
    assert baseline_mod.load(made).values == loaded.values

    assert cli.main(["baseline", "show", "tiny", "--dir", str(directory)]) == 0
    shown = capsys.readouterr().out
    assert _run_id(run_dir) in shown and "django: 2, fastapi: 2" in shown
    assert str(loaded.settings["machine_class"]) in shown


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", "two words", "x;rm"])
def test_unsafe_name_is_refused(run_dir: Path, tmp_path: Path, name: str, capsys) -> None:
    assert _save(run_dir, name, tmp_path / "baselines") == 2
    assert "is not a safe file name" in _err(capsys)
    assert not (tmp_path / "baselines").exists() and not (tmp_path / "escape.json").exists()


def test_a_json_suffix_is_part_of_the_file_not_the_name(run_dir: Path, tmp_path: Path) -> None:
    assert _save(run_dir, "nightly.v2.json", tmp_path) == 0
    assert json.loads((tmp_path / "nightly.v2.json").read_text())["name"] == "nightly.v2"
    assert baseline_mod.resolve("ci") == DEFAULT_BASELINE
    assert baseline_mod.resolve("nightly.v2", tmp_path) == tmp_path / "nightly.v2.json"


def test_missing_or_foreign_run_is_refused(tmp_path: Path, capsys) -> None:
    assert _save(tmp_path / "nope", "x", tmp_path / "b") == 2
    assert "does not exist" in _err(capsys)
    (tmp_path / "empty").mkdir()
    assert _save(tmp_path / "empty", "x", tmp_path / "b") == 2
    assert "is not a chatbench run directory (no meta.json)" in _err(capsys)
    (tmp_path / "empty" / "meta.json").write_text("{torn")
    assert _save(tmp_path / "empty", "x", tmp_path / "b") == 2
    assert "not valid JSON" in _err(capsys)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"status": "incomplete"}, "is marked 'incomplete'; a baseline needs a complete run"),
        ({"status": "running"}, "is marked 'running'"),
        ({"config": {"variants": ["fastapi@base", "fastapi@head"]}}, "is an A/B run"),
    ],
)
def test_unfinished_or_ab_run_is_refused(
    run_dir: Path, tmp_path: Path, edit: dict, message: str, capsys
) -> None:
    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(edit)
    meta_path.write_text(json.dumps(meta))
    assert _save(run_dir, "x", tmp_path / "b") == 2
    assert message in _err(capsys)
    # `check --update-baseline --run` applies the same guard.
    made = tmp_path / "made.json"
    assert (
        cli.main(["check", "--update-baseline", "--run", str(run_dir), "--baseline", str(made)])
        == 2
    )
    assert message in _err(capsys) and not made.exists()


def test_overwriting_needs_force(run_dir: Path, tmp_path: Path, capsys) -> None:
    directory = tmp_path / "baselines"
    directory.mkdir()
    existing = directory / "ci.json"
    existing.write_text("precious")
    assert _save(run_dir, "ci", directory) == 2
    assert "already exists; pass --force" in _err(capsys)
    assert existing.read_text() == "precious"
    assert _save(run_dir, "ci", directory, "--force") == 0
    assert baseline_mod.load(existing).run_id == _run_id(run_dir)


def test_show_of_a_missing_or_corrupt_baseline_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert cli.main(["baseline", "show", "absent", "--dir", str(tmp_path)]) == 2
    assert "does not exist" in _err(capsys)
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert cli.main(["baseline", "show", str(bad)]) == 2
    assert "is malformed" in _err(capsys)
