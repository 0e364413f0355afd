"""Choices: listed in --help (docs/cli.md is its snapshot), completed by the shell, refused in
one sentence; one threshold parser for every command; ``chatbench list``."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbench.cli import main
from chatbench.cli.catalog import catalog_lines
from chatbench.cli.options import complete_profiles, complete_variants
from chatbench.configuration import profiles, suites, variants

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_SMALL = REPO_ROOT / "tests" / "fixtures" / "run_small"


def test_the_help_snapshot_lists_every_choice() -> None:
    """docs/cli.md is the --help of every command (tests/cli/test_reference.py keeps it so)."""
    text = (REPO_ROOT / "docs" / "cli.md").read_text()
    run = text[text.index("## `chatbench run`") : text.index("## `chatbench serve`")]
    assert "`--scenario <" + "\\|".join(profiles.SCENARIOS) + ">`" in run
    assert "`--mode <" + "\\|".join(profiles.MODES) + ">`" in run
    assert "Load profile: " + ", ".join(profiles.profile_names()) + ", or a .toml file" in run
    assert "one of " + ", ".join(variants.REGISTRY) + ", or one with axes" in run
    assert "## `chatbench list`" in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--scenario", "chit-chat"], "'chit-chat' is not one of 'chat', 'read'"),
        (["run", "--mode", "open"], "'open' is not one of 'closed', 'rate', 'ramp'"),
        (["run", "--variants", "flask"], "Unknown variant 'flask'; known variants: django"),
        (["run", "--profile", "huge"], "Unknown profile 'huge'; available: ci, full"),
    ],
)
def test_a_choice_outside_the_list_is_one_sentence_and_exit_2(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert says in err and "Traceback" not in err


def test_completion_offers_registry_variants_and_profiles() -> None:
    assert complete_variants("django,fastapi-s") == ["django,fastapi-sync", "django,fastapi-seed"]
    assert complete_variants("dj") == ["django", "django-async", "django-ninja"]
    assert complete_profiles("q") == ["quick"]


def test_root_help_offers_completion_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--install-completion" in out and "--version" in out and " list " in out


@pytest.mark.parametrize("threshold", ["5%", "0.05", "5"])
def test_compare_reads_a_threshold_as_check_does(
    threshold: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(RUN_SMALL), str(RUN_SMALL), "--threshold", threshold]) == 0
    first = capsys.readouterr().out
    assert main(["compare", str(RUN_SMALL), str(RUN_SMALL)]) == 0
    assert capsys.readouterr().out == first  # the default is 5 % too


def test_a_bad_threshold_is_refused_alike_by_compare_and_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", str(RUN_SMALL), str(RUN_SMALL), "--threshold", "5 percent"]) == 2
    compare_err = capsys.readouterr().err
    assert main(["check", "--run", str(RUN_SMALL), "--threshold", "5 percent"]) == 2
    check_err = capsys.readouterr().err
    assert "--threshold takes a percentage like 10%" in compare_err
    assert "--threshold takes a percentage like 10%" in check_err


def test_list_names_every_variant_suite_profile_and_scenario(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == catalog_lines()
    for name, spec in variants.REGISTRY.items():
        assert f"  {name:<14} {spec.description}" in out
    for name in [*suites.suite_names(), *profiles.profile_names()]:
        assert f"\n  {name} " in out
    assert "Scenarios (--scenario): chat, read, write, detail" in out
