"""The CLI's own printing: what it says on stderr reaches the terminal whole."""

from __future__ import annotations

import pytest

from chatbench.cli.app import warn


def test_a_warning_naming_a_suite_variant_prints_the_label_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rich reads ``[pool=none]`` as a style tag unless escaped: the pooling suite's warnings
    printed "django repetition 3 is invalid" for ``django[pool=none]``."""
    warn("django[pool=none] repetition 3 is invalid (loadgen saturated: [0] busy).")
    err = " ".join(capsys.readouterr().err.split())  # the console wraps at its width
    assert "warning: django[pool=none] repetition 3 is invalid" in err
    assert "[0] busy" in err
