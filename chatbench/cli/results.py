"""Commands that read results: ``findings``, ``report``, ``compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chatbench.analysing.gate import parse_threshold
from chatbench.cli.app import console, err_console
from chatbench.cli.options import Threshold
from chatbench.cli.run import print_after_run
from chatbench.errors import UsageError
from chatbench.presenting import comparison
from chatbench.presenting import findings as findings_mod
from chatbench.workflows import compare as compare_wf
from chatbench.workflows import report as report_wf

COMPARE_THRESHOLD = 0.05


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
    if check is not None:
        if not findings_mod.is_current(check, samples):
            err_console.print(
                f"{check}'s Findings differ from {samples}; run `chatbench findings --write {check}`."
            )
            raise typer.Exit(1)
        console.print(f"{check}'s Findings match {samples}.")
    elif write is not None:
        findings_mod.rewrite(write, samples)
        console.print(f"Findings in {write} rewritten from {samples}.")
    else:
        console.print(findings_mod.render(samples), markup=False, highlight=False, soft_wrap=True)


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory under results/.")],
) -> None:
    """Recompute summary, charts and report.html for a run directory; print what ``chatbench
    run`` prints after a run: the verdict first, then the summary and the fairness line."""
    _require_run_dir(run_dir)
    report_wf.rebuild(run_dir)
    print_after_run(run_dir)
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
    threshold: Threshold = None,
) -> None:
    """Compare two runs: change per variant × endpoint × metric with its interval and a verdict."""
    done = compare_wf.compare(
        run_a,
        run_b,
        threshold=parse_threshold(threshold) if threshold else COMPARE_THRESHOLD,
        markdown=markdown,
        json_out=json_out,
        out=out,
    )
    console.print(comparison.to_rich_table(done.result))
    for path in done.charts:
        console.print(f"Chart: {path}")


def _require_run_dir(path: Path) -> None:
    if not (path / "meta.json").is_file():
        raise UsageError(f"{path} is not a chatbench run directory (no meta.json).")
