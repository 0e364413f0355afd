"""scripts/gc_hook_overhead.py: the figures impl_*/gcpauses.py quote, without services (plumbing)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "gc_hook_overhead", REPO / "scripts" / "gc_hook_overhead.py"
)
gc_hook_overhead = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gc_hook_overhead)


def test_the_callback_and_end_to_end_figures_are_printed(capsys: pytest.CaptureFixture[str]):
    assert gc_hook_overhead.main(["--pairs", "0", "--segments", "4"]) == 0
    out = capsys.readouterr().out
    direct = re.search(r"1\. the callback, called directly: ([\d.]+) µs per young collection", out)
    assert direct and 0 < float(direct.group(1)) < 100
    end_to_end = re.search(
        r"2\. end to end: ([+-][\d.]+) µs per young collection \(median of 4 pairs of segments, "
        r"(\d+) young and (\d+) full collections",
        out,
    )
    assert end_to_end and int(end_to_end.group(2)) >= 4 * 2 * 80  # ~90 per segment
    assert int(end_to_end.group(3)) <= 2  # cyclic garbage only: young collections free it
