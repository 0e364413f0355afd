"""``chatbench compare A B``: judge two runs' changes and keep them as files with their chart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chatbench.analysing.compare import Comparison, compare_runs
from chatbench.errors import UsageError
from chatbench.presenting import comparison
from chatbench.storing import record as rec
from chatbench.storing.atomic import write_json_atomic, write_text_atomic


@dataclass(frozen=True)
class Compared:
    """The comparison, and the chart files drawn beside its markdown/JSON (if any)."""

    result: Comparison
    charts: list[Path]


def compare(
    run_a: Path,
    run_b: Path,
    *,
    threshold: float,
    markdown: Path | None = None,
    json_out: Path | None = None,
    out: Path | None = None,
) -> Compared:
    """B against A; with ``out`` (or a markdown/JSON path) the files and the chart of changes."""
    for d in (run_a, run_b):
        if not (d / rec.META).is_file():
            raise UsageError(f"{d} is not a chatbench run directory (no meta.json).")
    if not 0 <= threshold < 1:
        raise UsageError(f"--threshold must be in [0, 1), not {threshold}.")
    result = compare_runs(run_a, run_b, threshold=threshold)
    if out:
        markdown = markdown or out / "compare.md"
        json_out = json_out or out / "compare.json"
    if markdown:
        write_text_atomic(markdown, comparison.to_markdown(result))
    if json_out:
        write_json_atomic(json_out, comparison.to_json(result))
    written = markdown or json_out
    chart_dir = out or (written.parent if written else None)  # the chart goes with the files
    charts = comparison.draw_changes(result, chart_dir) if chart_dir is not None else []
    return Compared(result, charts)
