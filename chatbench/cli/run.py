"""``chatbench run``: parse the options into a RunConfig, run it (or a suite), print the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from chatbench.cli.app import RichProgress, console, invocation, warn
from chatbench.cli.options import (
    DEFAULT_OUT,
    Arrivals,
    Contract,
    DatabaseUrl,
    Duration,
    LoadgenCpus,
    LoadgenProcesses,
    Mode,
    OutDir,
    Profile,
    RampSteps,
    Rate,
    Repeat,
    Scenario,
    ServerCpus,
    ServiceEnv,
    Target,
    Users,
    VariantLabel,
    Variants,
    VariantsFile,
    Warmup,
    Workload,
    option_origins,
)
from chatbench.configuration import settings as config_mod
from chatbench.configuration import suites as suites_cfg
from chatbench.configuration import variants as variants_mod
from chatbench.configuration.profiles import parse_fractions, parse_ramp_steps, parse_slo
from chatbench.errors import UsageError
from chatbench.measuring.schedule import planned_seconds
from chatbench.presenting.terminal import after_run, config_lines, verdict_table
from chatbench.provisioning import cpuplan, postgres
from chatbench.workflows import bench
from chatbench.workflows import suites as suites_wf


def run(
    ctx: typer.Context,
    variants: Variants = None,
    variants_file: VariantsFile = None,
    scenario: Scenario = None,
    workload: Workload = None,
    mode: Mode = None,
    users: Users = None,
    rate: Rate = None,
    arrivals: Arrivals = None,
    duration: Duration = None,
    warmup: Warmup = None,
    repeat: Repeat = None,
    profile: Profile = "quick",
    database_url: DatabaseUrl = None,
    out: OutDir = DEFAULT_OUT,
    server_cpus: ServerCpus = None,
    loadgen_cpus: LoadgenCpus = None,
    service_env: ServiceEnv = None,
    ramp_steps: RampSteps = None,
    loadgen_processes: LoadgenProcesses = None,
    target: Target = None,
    variant_label: VariantLabel = None,
    allow_unfair: Annotated[
        bool, typer.Option(help="Finish a run whose fairness rules were violated.")
    ] = False,
    cache_url: Annotated[
        str | None,
        typer.Option(
            envvar="CHATBENCH_CACHE_URL",
            help="Use this Redis/Valkey server for cache=valkey variants (redis://…).",
        ),
    ] = None,
    cpu_profile: Annotated[
        bool,
        typer.Option(
            help="After the measured repetitions, run one more per variant sampled by py-spy "
            "(excluded from every other figure): flame graphs and CPU per request by layer."
        ),
    ] = False,
    open_crosscheck: Annotated[
        bool,
        typer.Option(
            help="Then measure the equal-load and --slo answers again, each rate in Locust "
            "windows interleaved with windows of an open-model generator that is not Locust "
            "(make tools installs it); a disagreement widens or corrects the answer."
        ),
    ] = False,
    suite: Annotated[
        str | None,
        typer.Option(
            help="Run an experiment from loadtests/suites (or a .toml path) and answer it."
        ),
    ] = None,
    equal_load: Annotated[
        str | None,
        typer.Option(
            help="Closed mode: then measure latency at equal offered load, open-model rates at "
            "these fractions of the slowest variant's capacity, e.g. '0.5,0.8'; 'off': skip.",
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="The variant every ratio is taken against (default: the first)."),
    ] = None,
    slo: Annotated[
        str | None,
        typer.Option(
            help="Closed mode: then find each variant's capacity within this latency objective, "
            "a percentile p50..p99.9 and a bound in ms, e.g. 'p99=50ms'.",
        ),
    ] = None,
    contract: Contract = None,
    show_config: Annotated[
        bool,
        typer.Option(
            "--show-config",
            allow_from_autoenv=False,
            help="Print every setting of this run and where it came from (command line, "
            "environment, chatbench.toml, suite, profile or default), then exit without "
            "starting anything.",
        ),
    ] = False,
) -> None:
    """Provision Postgres, run each variant under identical load, write results/<run-id>/.

    Every option can also be set in the environment as CHATBENCH_<OPTION> (CHATBENCH_USERS,
    CHATBENCH_LOADGEN_PROCESSES) and in a chatbench.toml in the working directory (users = 20,
    loadgen_processes = 2); the command line wins over the environment, the environment over
    the file, the file over the suite and the profile (docs/configuration.md)."""
    for path in variants_file or []:
        variants_mod.register_file(path)
    if target and (variants or suite):
        raise UsageError("--target measures running services; drop --variants and --suite.")
    targets, target_url = None, None
    if target and len(target) == 1 and "://" in target[0].partition("=")[0]:  # one plain URL
        target_url = target[0]
        chosen = (variant_label,) if variant_label else None
    elif target:
        if variant_label:
            raise UsageError("--variant-label names a plain --target URL; NAME=URL names itself.")
        targets = config_mod.parse_targets(target)
        chosen, target_url = tuple(targets), next(iter(targets.values()))
    else:
        chosen = tuple(v.name for v in variants_mod.parse_list(variants)) if variants else None
    the_suite = None
    if suite is not None:
        if variants:
            raise UsageError("--suite sets the variants itself; leave out --variants.")
        the_suite = suites_cfg.load(suite)
    given_by = _fields_given(option_origins(ctx))
    options = dict(
        given_by=given_by, variants=chosen, scenario=scenario,
        workload=str(workload) if workload else None, mode=mode, users=users, rate=rate,
        duration_s=duration, warmup_s=warmup, repeat=repeat, database_url=database_url or None,
        out_dir=out, server_cpus=server_cpus, loadgen_cpus=loadgen_cpus,
        service_env=config_mod.parse_service_env(service_env or []) or None,
        ramp_steps=parse_ramp_steps(ramp_steps) if ramp_steps else None,
        loadgen_processes=loadgen_processes, allow_unfair=allow_unfair or None,
        cache_url=cache_url or None, target_url=target_url, variant_label=variant_label,
        targets=targets, reference=reference,
        equal_load=parse_fractions(equal_load) if equal_load is not None else None,
        slo=parse_slo(slo) if slo is not None else None,
        cpu_profile=cpu_profile or None, open_crosscheck=open_crosscheck or None,
        contract=str(contract) if contract else None,
        arrivals=str(arrivals) if arrivals else None,
    )  # fmt: skip
    if the_suite is not None:
        cfg = suites_cfg.build_config(the_suite, profile, **options)
    else:
        cfg = config_mod.build(profile, **options)
    cpuplan.make_plan(cfg.server_cpus, cfg.loadgen_cpus)  # bad CPU sets fail before any start
    if show_config:
        for line in config_lines(cfg):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    if cfg.database_url and not cfg.target_url:
        console.print(
            f"Using your PostgreSQL server at {postgres.server_place(cfg.database_url)}: chatbench "
            f"creates its databases there ({postgres.TEMPLATE_DB}, cb_<variant>) and drops only "
            "those it created.",
            markup=False,
            highlight=False,
        )
    report = invocation(ctx).report
    with RichProgress(planned_seconds(cfg)) as progress:
        if the_suite is not None:
            outcome = suites_wf.run(the_suite, cfg, progress=progress, report=report)
        else:
            outcome = bench.run(cfg, progress=progress, report=report)
    print_after_run(outcome.run_dir)
    for warning in outcome.warnings:
        warn(warning)
    console.print(f"\nReport: [bold]{outcome.run_dir / 'report.html'}[/]")


# A run option -> the RunConfig fields it sets, where the names differ.
_FIELDS_OF_OPTION: dict[str, tuple[str, ...]] = {
    "duration": ("duration_s",),
    "warmup": ("warmup_s",),
    "out": ("out_dir",),
    "target": ("targets", "target_url", "variants"),
}


def _fields_given(origins: dict[str, str]) -> dict[str, str]:
    """Where each RunConfig field set by an option came from (``RunConfig.origins``)."""
    given: dict[str, str] = {}
    # An option left at its default never hides one that was given (--target's fields
    # include the variants that --variants sets).
    for option, origin in sorted(origins.items(), key=lambda item: item[1] != "default"):
        for name in _FIELDS_OF_OPTION.get(option, (option,)):
            given[name] = origin
    return given


def print_after_run(run_dir: Path) -> None:
    """The answer first (a suite's question and sentences, or the verdict: a sentence per
    answer, the one on answers that point different ways, the small table), then the summary
    table and the fairness line."""
    shown = after_run(run_dir, width=console.width)
    console.print()
    if shown.question is not None:
        console.print(f"[bold]{escape(shown.question)}[/]")
    for sentence in shown.answer:
        console.print(f"• {sentence}", markup=False, highlight=False)
    if shown.verdict is not None:
        if shown.verdict.reconciled:
            console.print(f"! {shown.verdict.reconciled}", markup=False, highlight=False)
        if shown.verdict.rows:
            console.print(verdict_table(shown.verdict))
    if shown.summary is not None:
        table, legend = shown.summary
        console.print(table)
        console.print(legend, highlight=False)
    console.print(shown.fairness, markup=False, highlight=False)
