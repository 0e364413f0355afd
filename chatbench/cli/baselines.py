"""Commands about baselines and the check history: ``baseline save|show``, ``history``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from chatbench.cli.app import console, err_console, warn
from chatbench.configuration.paths import BASELINES_DIR, DEFAULT_BASELINE, DEFAULT_HISTORY
from chatbench.errors import UsageError
from chatbench.presenting import history_chart
from chatbench.storing import baselines
from chatbench.storing import history as history_store
from chatbench.workflows import baselines as baselines_wf

baseline_app = typer.Typer(
    help="Save and inspect named baselines in results/baselines/.", no_args_is_help=True
)
BaselinesDir = Annotated[
    Path | None,
    typer.Option("--dir", help="Baselines directory (default results/baselines)."),
]


@baseline_app.command("save")
def baseline_save(
    run_dir: Annotated[Path, typer.Argument(help="A complete run directory under results/.")],
    name: Annotated[
        str, typer.Option(help="Baseline name: letters, digits, - _ . (writes NAME.json).")
    ],
    force: Annotated[bool, typer.Option(help="Replace an existing baseline of that name.")] = False,
    directory: BaselinesDir = None,
) -> None:
    """Keep a run's per-repetition figures as the baseline NAME that later checks compare with."""
    path, summary = baselines_wf.save_from_run(
        run_dir, name, directory=directory or BASELINES_DIR, force=force
    )
    for warning in summary.warnings:
        warn(warning)
    for x in summary.excluded:
        err_console.print(
            f"[yellow]note:[/] left out {x.variant} repetition {x.repetition} ({x.reason})"
        )
    console.print(f"Baseline written: [bold]{path}[/] (from run {summary.run_id})", soft_wrap=True)


@baseline_app.command("show")
def baseline_show(
    baseline: Annotated[str, typer.Argument(help="A baseline NAME or a baseline FILE.")],
    directory: BaselinesDir = None,
) -> None:
    """Print what a baseline holds: settings, variants, repetitions, machine class, date."""
    path = baselines.resolve(baseline, directory or BASELINES_DIR)
    d = baselines.describe(path)
    table = Table(title=f"Baseline {d.name} ({d.path})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("created", d.created_at)
    table.add_row("from run", f"{d.run_id} (git {str(d.git_sha)[:10]})")
    table.add_row("machine class", str(d.settings.get("machine_class")))
    for key, value in d.settings.items():
        if key != "machine_class":
            table.add_row(key, str(value))
    table.add_row("repetitions", ", ".join(f"{v}: {n}" for v, n in d.repetitions.items()))
    table.add_row("endpoints", ", ".join(d.endpoints))
    table.add_row("metrics", ", ".join(d.metrics))
    table.add_row("excluded", str(len(d.excluded)))
    console.print(table)


def history(
    history_file: Annotated[
        Path | None, typer.Option("--file", help="History file (results/history.jsonl).")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(help="Baseline drawn as a band (default results/baselines/ci.json if any)."),
    ] = None,
    mode: Annotated[str, typer.Option(help="Checks to draw: baseline or ab.")] = "baseline",
    variant: Annotated[
        list[str] | None, typer.Option(help="Variants to draw (repeatable; default all).")
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option(help="Metrics, one panel each (default rps, p95, p99).")
    ] = None,
    endpoint: Annotated[str, typer.Option(help="Endpoint label, or ALL.")] = "ALL",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Chart directory (default: history/ beside --file)."),
    ] = None,
    last: Annotated[int, typer.Option(help="Checks listed in the table.")] = 10,
) -> None:
    """Draw the trend of recorded checks per variant and metric, with the baseline's band, and
    name the commit of each change point (its size and interval)."""
    source = history_file or DEFAULT_HISTORY
    if last < 0:
        raise UsageError(f"--last must be 0 or more, not {last}.")
    if baseline is not None and mode != "baseline":
        raise UsageError("--baseline applies to --mode baseline only (A/B checks have no band).")
    if baseline is None and mode == "baseline" and DEFAULT_BASELINE.is_file():
        baseline = DEFAULT_BASELINE
    trend = history_chart.build_trend(
        history_store.read(source), source=source, mode=mode, variants=variant, metrics=metric,
        endpoint=endpoint, baseline=baselines.load(baseline) if baseline else None,
        baseline_label=baseline.name if baseline else None,
    )  # fmt: skip
    table = history_chart.to_rich_table(trend, last=last)
    if not console.is_terminal:  # CI logs: print the whole table rather than squeeze it to 80
        wide = console.options.update(max_width=400)
        needed = Measurement.get(console, wide, table).maximum
        Console(width=max(console.width, needed)).print(table)
    else:
        console.print(table)
    shifts = trend.all_shifts
    if shifts:
        for shift in shifts:
            warn(shift.sentence(), "change point", "bold red" if shift.worse else "green")
    else:
        console.print(
            f"No change point in {len(trend.checks)} check(s) (E-divisive means, Apache Otava)."
        )
    for path in history_chart.draw(trend, out or Path(source).parent / "history"):
        console.print(f"Chart: {path}", soft_wrap=True)
