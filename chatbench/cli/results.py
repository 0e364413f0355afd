"""Commands that read results: ``findings``, ``report``, ``compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chatbench.analysing import compare as compare_mod
from chatbench.cli.app import console, err_console
from chatbench.errors import UsageError
from chatbench.presenting import comparison
from chatbench.presenting import findings as findings_mod
from chatbench.presenting.terminal import summary_table
from chatbench.storing.atomic import write_json_atomic, write_text_atomic
from chatbench.workflows import report as report_wf


def findings(
    samples: Annotated[
        Path, typer.Option(help="The committed sample runs (default comparison + suites).")
    ] = Path("results/sample"),
    write: Annotated[
        Path | None, typer.Option(help="Replace the Findings block of this file (README.md).")
    ] = None,
    check: Annotated[
        Path | None,
        typer.Option(help="Exit 1 when this file's Findings block differs from the samples."),
    ] = None,
) -> None:
    """Render README's Findings from the committed sample runs (print, --write or --check)."""
    block = findings_mod.render(samples)
    if write is None and check is None:
        console.print(block, markup=False, highlight=False, soft_wrap=True)
        return
    target = write or check
    assert target is not None
    try:
        text = target.read_text()
    except OSError as exc:
        raise UsageError(f"Cannot read {target}: {exc.strerror}.") from None
    if check is not None:
        if findings_mod.current_block(text) != block:
            err_console.print(
                f"{check}'s Findings differ from {samples}; run `chatbench findings --write {check}`."
            )
            raise typer.Exit(1)
        console.print(f"{check}'s Findings match {samples}.")
        return
    target.write_text(findings_mod.replace_block(text, block))
    console.print(f"Findings in {target} rewritten from {samples}.")


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory under results/.")],
) -> None:
    """Recompute summary, charts and report.html for a run directory."""
    _require_run_dir(run_dir)
    report_wf.rebuild(run_dir)
    shown = summary_table(run_dir, width=console.width)
    if shown is not None:
        console.print(shown[0])
        console.print(shown[1], highlight=False)
    console.print(f"Report: [bold]{run_dir / 'report.html'}[/]")


def compare(
    run_a: Annotated[Path, typer.Argument(help="Base run directory.")],
    run_b: Annotated[Path, typer.Argument(help="Candidate run directory.")],
    markdown: Annotated[
        Path | None, typer.Option(help="Also write the comparison as markdown here.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write it as JSON here.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write compare.md, compare.json and the chart of changes here."),
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="Smallest relative change called significant (0.05 = 5 %).")
    ] = 0.05,
) -> None:
    """Compare two runs: change per variant × endpoint × metric with its interval and a verdict."""
    for d in (run_a, run_b):
        _require_run_dir(d)
    if not 0 <= threshold < 1:
        raise UsageError(f"--threshold must be in [0, 1), not {threshold}.")
    result = compare_mod.compare_runs(run_a, run_b, threshold=threshold)
    console.print(comparison.to_rich_table(result))
    if out:
        markdown = markdown or out / "compare.md"
        json_out = json_out or out / "compare.json"
    if markdown:
        write_text_atomic(markdown, comparison.to_markdown(result))
    if json_out:
        write_json_atomic(json_out, comparison.to_json(result))
    written = markdown or json_out
    chart_dir = out or (written.parent if written else None)  # the chart goes with the files
    if chart_dir is not None:
        for path in comparison.draw_changes(result, chart_dir):
            console.print(f"Chart: {path}")


def _require_run_dir(path: Path) -> None:
    if not (path / "meta.json").is_file():
        raise UsageError(f"{path} is not a chatbench run directory (no meta.json).")
