"""chatbench.toml: every ``chatbench run`` option, validated, refused in one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from chatbench.cli import app
from chatbench.configuration import optionfile
from chatbench.errors import UsageError


def _run_options() -> set[str]:
    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    return {p.name for p in command.params} - set(optionfile.ACTIONS)


def test_the_file_takes_every_run_option_and_nothing_else() -> None:
    assert set(optionfile.OPTIONS) == _run_options()


def test_a_file_gives_values_in_the_types_the_options_take(tmp_path: Path) -> None:
    path = tmp_path / optionfile.OPTION_FILE
    path.write_text(
        'profile = "smoke"\nvariants = ["django", "fastapi[pool=none]"]\nusers = 7\n'
        'warmup = 2\nramp_steps = [10, 20]\ntarget = "a=http://127.0.0.1:8001"\n'
        "allow_unfair = true\n"
    )
    assert optionfile.read(path) == {
        "profile": "smoke",
        "variants": "django,fastapi[pool=none]",
        "users": 7,
        "warmup": 2.0,
        "ramp_steps": "10,20",
        "target": ["a=http://127.0.0.1:8001"],
        "allow_unfair": True,
    }
    assert optionfile.find(tmp_path) == path
    assert optionfile.find(tmp_path / "nowhere") is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("userz = 7\n", "unknown key 'userz'; known keys: allow_unfair, arrivals, cache_url"),
        ('users = "7"\n', "key users: input should be a valid integer."),
        ("show_config = true\n", "unknown key 'show_config'"),  # an action, not a setting
        ("users = [\n", "is not valid TOML"),
    ],
)
def test_a_bad_file_is_one_sentence_naming_file_and_key(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / optionfile.OPTION_FILE
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        optionfile.read(path)
    message = str(info.value)
    assert info.value.exit_code == 2 and says in message and str(path) in message
    assert "\n" not in message and message.endswith(".")


def test_environment_names_are_the_option_names() -> None:
    assert optionfile.env_name("loadgen_processes") == "CHATBENCH_LOADGEN_PROCESSES"
