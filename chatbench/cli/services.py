"""Commands around the services: ``serve``, ``verify``, ``crosscheck``, ``loadgen-worker``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from chatbench.cli.app import RichProgress, console, err_console
from chatbench.cli.options import (
    ContractChoice,
    DatabaseUrl,
    LoadgenCpus,
    ScenarioChoice,
    ServerCpus,
    ServiceEnv,
    Variants,
    VariantsFile,
)
from chatbench.configuration import settings as config_mod
from chatbench.configuration import variants as variants_mod
from chatbench.configuration.profiles import parse_fractions, parse_slo
from chatbench.errors import UsageError
from chatbench.load import locust
from chatbench.measuring import crosscheck as crosscheck_m
from chatbench.measuring.schedule import planned_seconds
from chatbench.presenting.terminal import sql_table
from chatbench.serving import openapi_contract
from chatbench.workflows import crosscheck as crosscheck_wf
from chatbench.workflows import serve as serve_mod


def serve(
    variant: Annotated[str, typer.Argument(help="Variant to start, e.g. django or fastapi.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000,
    database_url: DatabaseUrl = None,
) -> None:
    """Start one variant on its own freshly seeded database, for poking at by hand (Ctrl-C stops)."""
    serve_mod.serve(variant, port=port, database_url=database_url or None, announce=console.print)


def loadgen_worker(
    master: Annotated[
        str, typer.Option(help="Host of the Locust master (chatbench run or locust --master).")
    ],
    master_port: Annotated[int, typer.Option(help="The master's port.")] = 5557,
    processes: Annotated[int, typer.Option(help="Worker processes to start here.")] = 1,
    requests_dir: Annotated[
        Path | None,
        typer.Option(help="Write each worker's exact request data (requests-<pid>.json) here."),
    ] = None,
) -> None:
    """Run Locust worker(s) for a master elsewhere; the master sends scenario, mode and timing.

    Equivalent to the docker-compose locust-worker service (plain Locust):
    locust -f loadtests/locustfile.py --worker --master-host HOST
    """
    if not 0 < master_port < 65536:
        raise UsageError(f"--master-port must be a TCP port (1..65535), not {master_port}.")
    if not 0 < processes <= 64:
        raise UsageError(f"--processes must be above 0 and at most 64, not {processes}.")
    console.print(f"Locust worker(s) connecting to {master}:{master_port}; Ctrl-C stops them.")
    code = locust.run_worker(
        master, master_port=master_port, processes=processes, requests_dir=requests_dir
    )
    if code:
        raise typer.Exit(code)


def verify(
    variants: Variants = None,
    variants_file: VariantsFile = None,
    url: Annotated[
        str | None, typer.Option(help="Verify an already running service at this URL.")
    ] = None,
    database_url: DatabaseUrl = None,
    contract: Annotated[
        ContractChoice,
        typer.Option(
            help="chat: the bundled ChatMessage contract's smoke check, each variant alone; "
            "openapi: schemathesis against each variant's own OpenAPI document, and every "
            "generated request answered alike by all the variants (docs/own-services.md).",
            show_choices=True,
        ),
    ] = ContractChoice.chat,
    examples: Annotated[
        int,
        typer.Option(help="openapi: requests generated per operation, valid and invalid each."),
    ] = openapi_contract.EXAMPLES,
) -> None:
    """Check each variant (started here) or a running URL against a contract before load."""
    for path in variants_file or []:
        variants_mod.register_file(path)
    if contract == ContractChoice.openapi:
        _verify_openapi(variants, url, database_url or None, examples)
        return
    results = serve_mod.verify(variants, url=url, database_url=database_url or None)
    failed = False
    for name, result in results.items():
        table = Table(title=f"contract check: {escape(name)}")
        table.add_column("check")
        table.add_column("result")
        for c in result.checks:
            detail = escape(str(c.detail))
            table.add_row(c.name, "[green]ok[/]" if c.ok else f"[red]FAILED[/] {detail}")
            failed |= not c.ok
        console.print(table)
        if result.sql:
            console.print(sql_table(name, result.sql))
    if failed:
        raise typer.Exit(1)


def _verify_openapi(
    variants: str | None, url: str | None, database_url: str | None, examples: int
) -> None:
    if not 0 < examples <= 1000:
        raise UsageError(f"--examples must be above 0 and at most 1000, not {examples}.")
    report = serve_mod.verify_openapi(
        variants, url=url, database_url=database_url, examples=examples, announce=console.print
    )
    table = Table(title="OpenAPI contract check")
    table.add_column("service")
    table.add_column("operations", justify="right")
    table.add_column("breaks its document", justify="right")
    for name in report.services:
        broken = sum(v.service == name for v in report.violations)
        table.add_row(escape(name), str(report.operations[name]), str(broken))
    console.print(table)
    for finding in [*report.differences[:10], *report.violations[:10]]:
        console.print(f"  [red]✗[/] {escape(finding.sentence())}", soft_wrap=True)
    console.print(report.summary(), markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


def crosscheck(
    variants: Variants = None,
    scenario: Annotated[ScenarioChoice, typer.Option(help="Request mix.")] = ScenarioChoice.chat,
    users: Annotated[int, typer.Option(help="Locust users = wrk connections.")] = 20,
    warmup: Annotated[float, typer.Option(help="Warm-up seconds, each tool.")] = 3.0,
    duration: Annotated[float, typer.Option(help="Measured seconds, each tool.")] = 10.0,
    pairs: Annotated[int, typer.Option(help="Interleaved Locust/wrk pairs per variant.")] = 5,
    database_url: DatabaseUrl = None,
    server_cpus: ServerCpus = None,
    loadgen_cpus: LoadgenCpus = None,
    service_env: ServiceEnv = None,
    normal_priority: Annotated[
        bool,
        typer.Option(
            "--normal-priority",
            help="Run Locust and wrk at normal priority, not SCHED_IDLE (what yielding to "
            "Postgres changes; runs do not cite such a cross-check).",
        ),
    ] = False,
    out: Annotated[
        Path, typer.Option("--out", help="Directory that receives the cross-check JSON.")
    ] = Path("results/crosscheck"),
    open_model: Annotated[
        bool,
        typer.Option(
            "--open-model",
            help="Check the tails instead: a run (capacity, then latency at equal load, and "
            "--slo if given) whose open-model answers are measured again, Locust interleaved "
            "with an open-model generator that is not Locust; exit 1 unless p50 and p99 agree "
            "within ±15 % everywhere.",
        ),
    ] = False,
    equal_load: Annotated[
        str, typer.Option(help="--open-model: the equal-load fractions of the slowest capacity.")
    ] = "0.7",
    slo: Annotated[
        str | None, typer.Option(help="--open-model: also the SLO search, e.g. 'p99=50ms'.")
    ] = None,
    profile: Annotated[str, typer.Option(help="--open-model: the run's load profile.")] = "quick",
    results: Annotated[
        Path, typer.Option(help="--open-model: where the run directory goes.")
    ] = Path("results"),
    from_run: Annotated[
        Path | None,
        typer.Option(
            help="--open-model: keep the judgement of a run already made with "
            "--open-crosscheck instead of running one."
        ),
    ] = None,
) -> None:
    """Measure each variant with Locust and with wrk in interleaved pairs; exit 1 unless the
    Locust/wrk interval lies within ±5 % for every variant. With ``--open-model``: the tails
    and SLO rates, with an open-model generator that is not Locust."""
    names = tuple(variants_mod.split_names(variants)) if variants else ("django", "fastapi")
    if open_model and from_run is not None:
        doc, path = crosscheck_wf.keep_open(from_run, out)
        console.print(escape(doc["sentence"]), highlight=False)
        console.print(f"Open-model cross-check: [bold]{path}[/] (run {doc['run_id']})")
        if not doc["agrees"]:
            raise typer.Exit(1)
        return
    if from_run is not None:
        raise UsageError("--from-run keeps an open-model cross-check: give --open-model too.")
    if open_model:
        cfg = config_mod.build(
            profile, variants=names, scenario=scenario.value, database_url=database_url or None,
            server_cpus=server_cpus, loadgen_cpus=loadgen_cpus,
            service_env=config_mod.parse_service_env(service_env or []) or None,
            equal_load=parse_fractions(equal_load), slo=parse_slo(slo) if slo else None,
            open_crosscheck=True, out_dir=results,
        )  # fmt: skip
        with RichProgress(planned_seconds(cfg)) as progress:
            doc, path = crosscheck_wf.run_open(cfg, out, progress=progress)
        console.print(escape(doc["sentence"]), highlight=False)
        console.print(f"Open-model cross-check: [bold]{path}[/] (run {doc['run_id']})")
        if not doc["agrees"]:
            raise typer.Exit(1)
        return
    cfg = crosscheck_m.CrossCheckConfig(
        variants=names, scenario=scenario, users=users, warmup_s=warmup, duration_s=duration,
        pairs=pairs, database_url=database_url or None, server_cpus=server_cpus,
        loadgen_cpus=loadgen_cpus, service_env=config_mod.parse_service_env(service_env or []),
        normal_priority=normal_priority,
    )  # fmt: skip
    result, path = crosscheck_wf.run(
        cfg, out, announce=lambda text: err_console.print(escape(text))
    )
    for a in result.agreements:
        colour = "green" if a.agrees else "red"
        console.print(f"[{colour}]{escape(a.sentence())}[/]")
    console.print(f"Cross-check: [bold]{path}[/]")
    if not result.agrees:
        raise typer.Exit(1)
