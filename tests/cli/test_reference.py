"""docs/cli.md is generated from ``--help`` and must agree with it."""

from __future__ import annotations

from pathlib import Path

import typer.main

from chatbench import cli
from chatbench.cli import reference
from tests.conftest import REPO_ROOT

DOC = REPO_ROOT / "docs" / "cli.md"


def test_docs_cli_reference_equals_what_help_gives() -> None:
    """Change an option without `python -m chatbench.cli.reference --write docs/cli.md`, or
    edit docs/cli.md by hand, and this fails."""
    assert DOC.read_text() == reference.render()


def test_the_cli_reference_lists_every_run_option() -> None:
    """The reference's `run` section names every option of the Typer app's `run`."""
    command = typer.main.get_command(cli.app).commands["run"]  # type: ignore[attr-defined]
    section = DOC.read_text().split("## `chatbench run`", 1)[1].split("\n## ", 1)[0]
    options = [o for p in command.params for o in [*p.opts, *p.secondary_opts] if o != "--help"]
    missing = [o for o in options if f"`{o}" not in section and f" {o}`" not in section]
    assert options and missing == []


def test_every_command_has_a_section() -> None:
    text = reference.render()
    for name in typer.main.get_command(cli.app).commands:  # type: ignore[attr-defined]
        assert f"## `chatbench {name}`" in text


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    doc = tmp_path / "cli.md"
    assert reference.main(["--check", str(doc)]) == 1
    assert reference.main(["--write", str(doc)]) == 0
    assert reference.main(["--check", str(doc)]) == 0
    doc.write_text(doc.read_text().replace("--variants", "--variant", 1))
    assert reference.main(["--check", str(doc)]) == 1
