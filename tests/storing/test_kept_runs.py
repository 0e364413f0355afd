"""Where the measurement scripts keep their runs: a directory of their own, never one that holds
runs already (chatbench.storing.kept_runs); steady_state refuses one before anything runs
(slo_repeat's refusal: tests/scripts/test_slo_repeat.py)."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

from chatbench.configuration.paths import REPO_ROOT
from chatbench.errors import UsageError
from chatbench.storing.kept_runs import keep_directory

NOW = dt.datetime(2026, 12, 7, 22, 45, 3, tzinfo=dt.UTC)


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_directory_each_run_gets_its_own_under_the_root(tmp_path: Path) -> None:
    assert keep_directory(None, tmp_path, NOW) == tmp_path / "20261207T224503Z"
    later = NOW + dt.timedelta(seconds=1)
    assert keep_directory(None, tmp_path, later) != keep_directory(None, tmp_path, NOW)


def test_a_new_or_empty_directory_is_taken_as_given(tmp_path: Path) -> None:
    assert keep_directory(tmp_path / "new", tmp_path, NOW) == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert keep_directory(tmp_path / "empty", tmp_path, NOW) == tmp_path / "empty"


def test_a_directory_that_holds_anything_or_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "used" / "run-1").mkdir(parents=True)
    with pytest.raises(UsageError, match="holds runs already"):
        keep_directory(tmp_path / "used", tmp_path, NOW)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        keep_directory(tmp_path / "a-file", tmp_path, NOW)


def test_steady_state_refuses_a_used_directory_before_it_runs_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    steady_state = _script("steady_state")
    started: list[object] = []
    monkeypatch.setattr(steady_state.subprocess, "run", lambda *a, **k: started.append(a))
    (tmp_path / "kept" / "20261207T000000Z").mkdir(parents=True)
    with pytest.raises(SystemExit) as stop:
        steady_state.main(["--keep", str(tmp_path / "kept"), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2 and not started
    assert "holds runs already" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
