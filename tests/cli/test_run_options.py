"""Where ``chatbench run``'s settings come from: command line > environment (CHATBENCH_<OPTION>)
> chatbench.toml in the working directory > suite > profile > default, as ``--show-config``
prints them and meta.json records them (``config.origins``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer.main

from chatbench.cli import app, main
from chatbench.configuration import optionfile


def shown(capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[object, str]]:
    """``--show-config``'s lines as {field: (value, origin)}."""
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        name, rest = line.split(None, 1)
        value, _, origin = rest.rpartition("  (")
        rows[name] = (json.loads(value.strip()), origin.rstrip(")"))
    return rows


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in optionfile.OPTIONS:
        monkeypatch.delenv(optionfile.env_name(name), raising=False)
    return tmp_path


def test_command_line_beats_environment_beats_file_beats_profile(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "chatbench.toml").write_text(
        'profile = "smoke"\nusers = 7\nwarmup = 2\nduration = 8\nloadgen_processes = 2\n'
        'variants = ["fastapi", "django"]\n'
    )
    monkeypatch.setenv("CHATBENCH_WARMUP", "3")
    monkeypatch.setenv("CHATBENCH_DURATION", "6")
    assert main(["run", "--show-config", "--duration", "4"]) == 0
    rows = shown(capsys)
    where = f"file {workdir.resolve() / 'chatbench.toml'}"
    assert rows["duration_s"] == (4.0, "command line")  # all three give it
    assert rows["warmup_s"] == (3.0, "environment CHATBENCH_WARMUP")  # env and file
    assert rows["users"] == (7, where)  # file and profile
    assert rows["loadgen_processes"] == (2, where)
    assert rows["variants"] == (["fastapi", "django"], where)
    assert rows["profile"] == ("smoke", where)
    assert rows["repeat"] == (1, "profile smoke")  # the profile the file chose
    assert rows["seed"] == (42, "default")


def test_a_suite_sits_between_the_options_and_the_profile(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBENCH_SUITE", "pooling")
    monkeypatch.setenv("CHATBENCH_PROFILE", "smoke")
    assert main(["run", "--show-config", "--repeat", "2"]) == 0
    rows = shown(capsys)
    assert rows["variants"][1] == "suite pooling"
    assert rows["repeat"] == (2, "command line")
    assert rows["profile"] == ("smoke", "environment CHATBENCH_PROFILE")


def test_every_run_option_has_its_environment_variable() -> None:
    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    ctx = typer.Context(command, info_name="run", **command.context_settings)
    for param in command.params:
        record = param.get_help_record(ctx)
        assert record is not None
        if param.name in optionfile.ACTIONS:
            assert "env var" not in record[1]
        else:
            assert f"env var: {optionfile.env_name(param.name)}" in record[1], record


def test_a_bad_value_names_where_it_came_from(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBENCH_USERS", "many")
    assert main(["run", "--show-config"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "'--users'" in err and "(from the environment variable CHATBENCH_USERS)" in err
    monkeypatch.delenv("CHATBENCH_USERS")
    (workdir / "chatbench.toml").write_text("user = 3\n")
    assert main(["run", "--show-config"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"Option file {workdir / 'chatbench.toml'}: unknown key 'user'" in err
    assert "Traceback" not in err


def test_other_commands_do_not_read_the_file(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "chatbench.toml").write_text("user = 3\n")
    assert main(["list"]) == 0  # a broken run file is run's business only
