"""``chatbench check``: parse the gate's options into a request, run the gate, print the verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chatbench.analysing.gate import (
    AB_THRESHOLD,
    DEFAULT_THRESHOLD,
    Rule,
    parse_metrics,
    parse_min_repetitions,
    parse_threshold,
)
from chatbench.cli.app import RichProgress, console, invocation, warn
from chatbench.cli.options import (
    DEFAULT_OUT,
    DatabaseUrl,
    Duration,
    LoadgenCpus,
    OutDir,
    Profile,
    Repeat,
    ServerCpus,
    ServiceEnv,
    Users,
    Variants,
    Warmup,
)
from chatbench.configuration import settings as config_mod
from chatbench.configuration import variants as variants_mod
from chatbench.presenting import verdict
from chatbench.storing import baselines
from chatbench.workflows import check as check_mod
from chatbench.workflows.check import GateRequest


def check(
    ctx: typer.Context,
    baseline: Annotated[
        Path | None,
        typer.Option(help="Baseline file (default results/baselines/ci.json)."),
    ] = None,
    update_baseline: Annotated[
        bool, typer.Option(help="Write the baseline from this run instead of checking.")
    ] = False,
    base: Annotated[
        str | None,
        typer.Option(help="Same-runner A/B: measure this git ref's services in the same run."),
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option("--run", help="Judge this existing run instead of running.")
    ] = None,
    repo: Annotated[
        Path | None, typer.Option(help="With --base: the candidate's git checkout.")
    ] = None,
    threshold: Annotated[
        str | None, typer.Option(help="Smallest change that fails, e.g. 10% (A/B: 5%).")
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option(help="Metrics to gate (repeatable): rps, p95, p99, …")
    ] = None,
    history_file: Annotated[
        Path | None, typer.Option("--history", help="History file (results/history.jsonl).")
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(
            help="With --base: time for extra rounds while verdicts are undecided "
            "(default 5m; 'off' for one round)."
        ),
    ] = None,
    min_repetitions: Annotated[
        int,
        typer.Option(help="Repetitions a side below which a verdict stays undecided (3 or more)."),
    ] = 4,
    duet: Annotated[
        bool,
        typer.Option(
            "--duet/--sequential",
            help="With --base: run base and head at the same time, judged pair by pair "
            "(default), or one after the other.",
        ),
    ] = True,
    gate: Annotated[
        str,
        typer.Option(
            help="Figures that decide the exit code: raw, or normalised by the run's control "
            "probe (stored baseline only)."
        ),
    ] = "raw",
    export: Annotated[
        list[str] | None,
        typer.Option(
            help="Also write the verdict as KIND=FILE (repeatable): bmf (Bencher Metric "
            "Format), customSmallerIsBetter or customBiggerIsBetter (github-action-benchmark)."
        ),
    ] = None,
    variants: Variants = None,
    users: Users = None,
    duration: Duration = None,
    warmup: Warmup = None,
    repeat: Repeat = None,
    profile: Profile = "ci",
    database_url: DatabaseUrl = None,
    out: OutDir = DEFAULT_OUT,
    server_cpus: ServerCpus = None,
    loadgen_cpus: LoadgenCpus = None,
    service_env: ServiceEnv = None,
) -> None:
    """CI gate: run the ci profile, compare with a baseline (or --base REF).

    Exit codes: 0 no regression, 1 regression, 2 bad arguments, 3 not comparable (a baseline
    from other settings, nothing valid to judge), 4 undecided within the budget."""
    names = tuple(variants_mod.split_names(variants)) if variants else None
    default_threshold = AB_THRESHOLD if base else DEFAULT_THRESHOLD
    request = GateRequest(
        settings=config_mod.settings(
            profile, variants=names, users=users, duration_s=duration, warmup_s=warmup,
            repeat=repeat, database_url=database_url or None, out_dir=out,
            server_cpus=server_cpus, loadgen_cpus=loadgen_cpus,
            service_env=config_mod.parse_service_env(service_env or []) or None,
        ),
        rule=Rule(
            threshold=parse_threshold(threshold) if threshold else default_threshold,
            metrics=parse_metrics(metric),
            min_repetitions=parse_min_repetitions(min_repetitions),
            gate=gate,
        ),
        baseline=baseline, update_baseline=update_baseline, base=base, run_dir=run_dir,
        repo=repo, budget=budget, duet=duet, threshold_given=bool(threshold),
        history=history_file, report=invocation(ctx).report,
        exports=check_mod.parse_exports(export),
    )  # fmt: skip
    done = check_mod.gate(request, watch=RichProgress)
    if done.baseline_written is not None:
        summary = baselines.load(done.baseline_written)
        console.print(
            f"Baseline written: [bold]{done.baseline_written}[/] (from run {summary.run_id})"
        )
        return
    result = done.result
    assert result is not None and done.verdict is not None
    console.print(verdict.to_rich_table(result))
    for note in result.notes:
        warn(note, "note")
    for f in result.regressions:
        warn(f.sentence(), "regression", "bold red")
    console.print(f"{verdict.headline(result)}\nVerdict: [bold]{done.verdict}[/]")
    console.print(verdict.status_line(result), markup=False, highlight=False)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
