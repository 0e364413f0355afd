"""The CLI's own printing: what it says on stderr reaches the terminal whole."""

from __future__ import annotations

import pytest

from chatbench.cli.app import RichProgress, warn


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
