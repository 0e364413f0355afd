"""The CLI's own printing: what it says on stderr reaches the terminal whole; its version;
``python -m chatbench``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatbench.cli.app import RichProgress, warn

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_warning_naming_a_suite_variant_prints_the_label_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rich reads ``[pool=none]`` as a style tag unless escaped: the pooling suite's warnings
    printed "django repetition 3 is invalid" for ``django[pool=none]``."""
    warn("django[pool=none] repetition 3 is invalid (loadgen saturated: [0] busy).")
    err = " ".join(capsys.readouterr().err.split())  # the console wraps at its width
    assert "warning: django[pool=none] repetition 3 is invalid" in err
    assert "[0] busy" in err


def test_a_phase_naming_a_suite_variant_shows_the_label_whole() -> None:
    from rich.console import Console

    progress = RichProgress(10.0)
    progress.phase("django[pool=none] #1: cloning")
    console = Console(width=200, record=True)
    console.print(progress._progress.get_renderable())
    assert "django[pool=none] #1: cloning" in console.export_text()


def test_without_a_terminal_each_phase_prints_once_as_a_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A CI log or a pipe gets no live bar (rich prints it only when it ends): every new phase
    is a line with the seconds since the start, so a long run shows where its time goes."""
    with RichProgress(10.0) as progress:
        progress.phase("django[pool=none] (repetition 1/5): starting the service")
        progress.phase("django[pool=none] (repetition 1/5): starting the service")
        progress.phase("fastapi (repetition 1/5): warm-up 2 s, then measuring 6 s")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("[") and " s] django[pool=none] (repetition 1/5)" in lines[0]
    assert lines[1].endswith("fastapi (repetition 1/5): warm-up 2 s, then measuring 6 s")


def test_version_names_the_release_and_the_checkouts_commit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from chatbench import __version__, cli

    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"chatbench {__version__} (git {sha[:12]}")


def test_python_m_chatbench_is_the_chatbench_command(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "chatbench", "--version"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("chatbench ")
    bad = subprocess.run([sys.executable, "-m", "chatbench", "run", "--users", "0"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
