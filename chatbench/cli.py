"""The `chatbench` command: parses arguments, calls the plain Python API, prints.

No state travels below this module: each command builds a typed config and hands it to a
library function. Errors the user can cause arrive as ``ChatbenchError`` and become one
sentence and an exit code in :func:`main`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from chatbench import config as config_mod
from chatbench.errors import ChatbenchError, UsageError

app = typer.Typer(
    name="chatbench",
    help="Benchmark equivalent Django REST Framework and FastAPI ChatMessage services on PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

# -- shared option types ------------------------------------------------------------------
Variants = Annotated[
    str | None, typer.Option("--variants", help="Comma-separated variants, e.g. django,fastapi.")
]
Scenario = Annotated[str | None, typer.Option(help="chat (default), read, write or detail.")]
Mode = Annotated[
    str | None, typer.Option(help="closed (N users, no wait), rate (fixed req/s) or ramp.")
]
Users = Annotated[int | None, typer.Option(help="Concurrent Locust users.")]
Rate = Annotated[float | None, typer.Option(help="Total requests per second (rate mode).")]
Duration = Annotated[
    float | None, typer.Option(help="Measured seconds per variant and repetition.")
]
Warmup = Annotated[
    float | None, typer.Option(help="Warm-up seconds before each measurement (excluded).")
]
Repeat = Annotated[
    int | None, typer.Option(help="Repetitions per variant, interleaved A B, B A, …")
]
Profile = Annotated[
    str, typer.Option(help="Load profile from loadtests/profiles: smoke, quick, full.")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        envvar="DATABASE_URL", help="Use this PostgreSQL server instead of the embedded one."
    ),
]
OutDir = Annotated[Path, typer.Option("--out", help="Directory that receives the run directory.")]
ServerCpus = Annotated[str | None, typer.Option(help="CPUs for the service, e.g. '1' or '2-3'.")]
LoadgenCpus = Annotated[str | None, typer.Option(help="CPUs for Locust and Postgres, e.g. '0'.")]
ServiceEnv = Annotated[
    list[str] | None,
    typer.Option(
        "--service-env", help="VARIANT:NAME=VALUE extra service environment (repeatable)."
    ),
]
RampSteps = Annotated[str | None, typer.Option(help="Ramp mode user steps, e.g. '10,20,40,80'.")]
LoadgenProcesses = Annotated[
    int | None, typer.Option(help="Locust processes (Locust's --processes).")
]


class RichProgress:
    """Draws the runner's phases and the time left."""

    def __init__(self, total_s: float) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        self._task = self._progress.add_task("starting", total=total_s)

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def phase(self, text: str) -> None:
        self._progress.update(self._task, description=text)

    def advance(self, seconds: float) -> None:
        self._progress.advance(self._task, seconds)


@app.command()
def run(
    variants: Variants = None,
    scenario: Scenario = None,
    mode: Mode = None,
    users: Users = None,
    rate: Rate = None,
    duration: Duration = None,
    warmup: Warmup = None,
    repeat: Repeat = None,
    profile: Profile = "quick",
    database_url: DatabaseUrl = None,
    out: OutDir = config_mod.REPO_ROOT / "results",
    server_cpus: ServerCpus = None,
    loadgen_cpus: LoadgenCpus = None,
    service_env: ServiceEnv = None,
    ramp_steps: RampSteps = None,
    loadgen_processes: LoadgenProcesses = None,
    allow_unfair: Annotated[
        bool, typer.Option(help="Finish a run whose fairness rules were violated.")
    ] = False,
) -> None:
    """Provision Postgres, run each variant under identical load, write results/<run-id>/."""
    from chatbench import runner
    from chatbench import variants as variants_mod

    cfg = config_mod.build(
        profile,
        variants=tuple(v.name for v in variants_mod.parse_list(variants)) if variants else None,
        scenario=scenario,
        mode=mode,
        users=users,
        rate=rate,
        duration_s=duration,
        warmup_s=warmup,
        repeat=repeat,
        database_url=database_url or None,
        out_dir=out,
        server_cpus=server_cpus,
        loadgen_cpus=loadgen_cpus,
        service_env=config_mod.parse_service_env(service_env or []) or None,
        ramp_steps=config_mod.parse_ramp_steps(ramp_steps) if ramp_steps else None,
        loadgen_processes=loadgen_processes,
        allow_unfair=allow_unfair or None,
    )
    with RichProgress(runner.planned_seconds(cfg)) as progress:
        outcome = runner.run(cfg, progress=progress)
    print_summary(outcome.run_dir)
    for warning in outcome.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"\nReport: [bold]{outcome.run_dir / 'report.html'}[/]")


def print_summary(run_dir: Path) -> None:
    """The terminal summary, read back from summary.csv so it matches the files exactly."""
    import pandas as pd

    path = run_dir / "summary.csv"
    if not path.exists():
        return
    df = pd.read_csv(path)
    table = Table(title=f"chatbench {run_dir.name}")
    for col in (
        "variant",
        "endpoint",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "req/CPU-s",
    ):
        table.add_column(col, justify="left" if col in ("variant", "endpoint") else "right")

    def cell(sub: pd.DataFrame, metric: str, fmt: str = "{:.1f}") -> str:
        row = sub[sub["metric"] == metric]
        if row.empty:
            return "–"
        r = row.iloc[0]
        return f"{fmt.format(r['value'])} [{fmt.format(r['ci_low'])}–{fmt.format(r['ci_high'])}]"

    for (variant, endpoint), sub in df.groupby(["variant", "endpoint"], sort=False):
        table.add_row(
            str(variant),
            str(endpoint),
            cell(sub, "rps"),
            cell(sub, "p50", "{:.2f}"),
            cell(sub, "p95", "{:.2f}"),
            cell(sub, "p99", "{:.2f}"),
            cell(sub, "failures", "{:.0f}"),
            cell(sub, "req_per_cpu_s", "{:.0f}"),
        )
    console.print(table)
    console.print("values: median over repetitions [95 % bootstrap CI]")


@app.command()
def serve(
    variant: Annotated[str, typer.Argument(help="Variant to start, e.g. django or fastapi.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000,
    database_url: DatabaseUrl = None,
) -> None:
    """Start one variant on its own freshly seeded database, for poking at by hand (Ctrl-C stops)."""
    from chatbench import serve as serve_mod

    serve_mod.serve(variant, port=port, database_url=database_url or None, announce=console.print)


@app.command()
def verify(
    variants: Variants = None,
    url: Annotated[
        str | None, typer.Option(help="Verify an already running service at this URL.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the contract smoke check against each variant (started here) or a running URL."""
    from chatbench import serve as serve_mod

    results = serve_mod.verify(variants, url=url, database_url=database_url or None)
    failed = False
    for name, checks in results.items():
        table = Table(title=f"contract check: {name}")
        table.add_column("check")
        table.add_column("result")
        for c in checks:
            table.add_row(c.name, "[green]ok[/]" if c.ok else f"[red]FAILED[/] {c.detail}")
            failed |= not c.ok
        console.print(table)
    if failed:
        raise typer.Exit(1)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory under results/.")],
) -> None:
    """Recompute summary, charts and report.html for a run directory."""
    from chatbench import results

    _require_run_dir(run_dir)
    results.rebuild(run_dir)
    print_summary(run_dir)
    console.print(f"Report: [bold]{run_dir / 'report.html'}[/]")


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="Base run directory.")],
    run_b: Annotated[Path, typer.Argument(help="Candidate run directory.")],
    markdown: Annotated[
        Path | None, typer.Option(help="Also write the comparison as markdown here.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write it as JSON here.")
    ] = None,
) -> None:
    """Compare two runs: change per variant × endpoint × metric with its CI and a verdict."""
    import json

    from chatbench import compare as compare_mod

    for d in (run_a, run_b):
        _require_run_dir(d)
    result = compare_mod.compare_runs(run_a, run_b)
    console.print(compare_mod.to_rich_table(result))
    if markdown:
        markdown.write_text(compare_mod.to_markdown(result))
    if json_out:
        json_out.write_text(json.dumps(compare_mod.to_json(result), indent=2, sort_keys=True))


def _require_run_dir(path: Path) -> None:
    if not (path / "meta.json").is_file():
        raise UsageError(f"{path} is not a chatbench run directory (no meta.json).")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn chatbench errors into one sentence and an exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except ChatbenchError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}")
        if exc.detail:
            err_console.print(exc.detail, markup=False, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("[bold red]aborted[/]")
        return 130
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show(file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
