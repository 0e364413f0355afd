"""``chatbench crosscheck``: measure with Locust and wrk, judge their agreement, keep the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chatbench.analysing.agreement import agreement
from chatbench.measuring import crosscheck
from chatbench.storing.crosschecks import CrossCheckResult, write


def run(
    cfg: crosscheck.CrossCheckConfig, out_dir: Path, *, announce: Callable[[str], None] = print
) -> tuple[CrossCheckResult, Path]:
    """Every variant in interleaved Locust/wrk pairs; the result and the file it went to."""
    measured = crosscheck.run(cfg, announce=announce)
    agreements = [agreement(v, measured.measurements) for v in cfg.variants]
    result = CrossCheckResult(cfg, measured.measurements, agreements, measured.meta)
    return result, write(result, out_dir)
