"""The `chatbench` command: parses arguments, calls the plain Python API, prints.

No state travels below this module: each command builds a typed config and hands it to a
library function. Errors the user can cause arrive as ``ChatbenchError`` and become one
sentence and an exit code in :func:`main`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
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
    int | None,
    typer.Option(help="Locust processes: N > 1 runs a master and N workers, merged."),
]
Target = Annotated[
    str | None,
    typer.Option(
        help="Measure an already running service at this loopback URL instead of starting "
        "variants (needs --variant-label; --database-url = its database, for the integrity check)."
    ),
]
VariantLabel = Annotated[
    str | None, typer.Option(help="Name of the --target service in the results.")
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
    target: Target = None,
    variant_label: VariantLabel = None,
    allow_unfair: Annotated[
        bool, typer.Option(help="Finish a run whose fairness rules were violated.")
    ] = False,
    cache_url: Annotated[
        str | None,
        typer.Option(help="Use this Redis/Valkey server for cache=valkey variants (redis://…)."),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            help="Run an experiment from loadtests/suites (or a .toml path) and answer it."
        ),
    ] = None,
) -> None:
    """Provision Postgres, run each variant under identical load, write results/<run-id>/."""
    from chatbench import cpuplan, runner
    from chatbench import variants as variants_mod

    if target and (variants or suite):
        raise UsageError("--target measures one running service; drop --variants and --suite.")
    if target:
        chosen = (variant_label,) if variant_label else None
    else:
        chosen = tuple(v.name for v in variants_mod.parse_list(variants)) if variants else None

    if suite is not None:
        if variants:
            raise UsageError("--suite sets the variants itself; leave out --variants.")
        from chatbench import suites

        the_suite = suites.load(suite)
        build = lambda profile, **kw: suites.build_config(the_suite, profile, **kw)  # noqa: E731
    else:
        the_suite, build = None, config_mod.build
    cfg = build(
        profile,
        variants=chosen,
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
        cache_url=cache_url or None,
        target_url=target,
        variant_label=variant_label,
    )
    cpuplan.make_plan(cfg.server_cpus, cfg.loadgen_cpus)  # bad CPU sets fail before any start
    with RichProgress(runner.planned_seconds(cfg)) as progress:
        if the_suite is not None:
            outcome = suites.run(the_suite, cfg, progress=progress)
        else:
            outcome = runner.run(cfg, progress=progress)
    print_summary(outcome.run_dir)
    _print_fairness(outcome.run_dir)
    if the_suite is not None:
        console.print(f"\n[bold]{the_suite.question}[/]")
        for sentence in suites.read_answer(outcome.run_dir):
            console.print(f"  {sentence}", markup=False, highlight=False)
    else:
        from chatbench.answers import run_answer

        console.print()
        for sentence in run_answer(outcome.run_dir).sentences:
            console.print(f"  {sentence}", markup=False, highlight=False)
    for warning in outcome.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"\nReport: [bold]{outcome.run_dir / 'report.html'}[/]")


# Short endpoint names for the terminal table; files keep the full, stable labels.
SHORT_ENDPOINTS = {
    "POST /api/chat/messages": "POST msgs",
    "GET /api/chat/messages": "GET history",
    "GET /api/chat/messages/{id}": "GET by id",
    "DELETE /api/chat/messages/{id}": "DELETE by id",
    "ALL": "all",
}
# (header, summary.csv metric, number format)
SUMMARY_COLUMNS = (
    ("req/s", "rps", "{:.1f}"),
    ("p50 ms", "p50", "{:.2f}"),
    ("p95 ms", "p95", "{:.2f}"),
    ("p99 ms", "p99", "{:.2f}"),
    ("errors", "failures", "{:.0f}"),
    ("req/CPU-s", "req_per_cpu_s", "{:.0f}"),
)
WIDE_TERMINAL = 120  # from here on, confidence intervals fit next to each value


def _print_fairness(run_dir: Path) -> None:
    """The fairness verdicts in one line (details: the report's Fairness section)."""
    import json

    from chatbench.fairness import terminal_line

    meta = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
    console.print(terminal_line(meta), markup=False, highlight=False)


def _sql_table(name: str, sql: dict[str, dict]) -> Table:
    """Per endpoint, called alone: what Postgres ran (pg_stat_statements), per call."""
    table = Table(title=f"SQL work per call, endpoint alone: {escape(name)}")
    table.add_column("endpoint", no_wrap=True)
    table.add_column("stmts", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("DB ms", justify="right")
    table.add_column("statements (normalised)", overflow="fold")
    for endpoint, p in sql.items():
        texts = "; ".join(
            f"{s['calls'] / max(1, p.get('calls', 1)):g}× {' '.join(str(s['query']).split())}"
            for s in p.get("statements", [])
        )
        table.add_row(
            escape(SHORT_ENDPOINTS.get(endpoint, endpoint)),
            f"{p['statements_per_call']:.2f}",
            f"{p['rows_per_call']:.2f}",
            f"{p['db_exec_ms_per_call']:.3f}",
            escape(texts),
        )
    return table


def _label_lines(label: str) -> list[str]:
    """``django[pool=none,server=sync]`` -> ["django", "pool=none", "server=sync"]: printed one
    line per row of the variant's group, so a long label stays in a narrow column."""
    base, _, axes = label.partition("[")
    return [base, *(a for a in axes.rstrip("]").split(",") if a)]


def print_summary(run_dir: Path) -> None:
    """The terminal summary, read back from summary.csv so it matches the files exactly.

    Fits 80 columns: short endpoint names, one value per cell; on a terminal at least
    WIDE_TERMINAL columns wide each value also shows its bounds: ``[low–high]`` for a 95 % CI,
    ``[range low–high]`` for the range of 2 repetitions (summary.csv's ``interval`` column).
    """
    import pandas as pd
    from rich import box

    from chatbench.stats import CI_METHODS, RANGE, legend

    path = run_dir / "summary.csv"
    if not path.exists():
        return
    df = pd.read_csv(path)
    wide = console.width >= WIDE_TERMINAL
    table = Table(title=f"chatbench {run_dir.name}", box=box.SIMPLE_HEAD, pad_edge=False)
    longest = max((len(x) for v in df["variant"].unique() for x in _label_lines(str(v))), default=7)
    # Axis labels (pool=persistent, …) need a wider first column: at 80 columns the per-CPU
    # column gives way (it stays in summary.csv and the report).
    columns = [c for c in SUMMARY_COLUMNS if wide or longest <= 8 or c[1] != "req_per_cpu_s"]
    table.add_column("variant", no_wrap=True, min_width=max(7, longest))
    table.add_column("endpoint", no_wrap=True)
    for header, _, _ in columns:
        table.add_column(header, justify="right", no_wrap=True)

    def cell(sub: pd.DataFrame, metric: str, fmt: str) -> str:
        row = sub[sub["metric"] == metric]
        if row.empty or pd.isna(row.iloc[0]["value"]):
            return "–"
        r = row.iloc[0]
        text = fmt.format(r["value"])
        kind = r.get("interval")
        if wide and kind in (*CI_METHODS, RANGE) and pd.notna(r["ci_low"]):
            label = "range " if kind == RANGE else ""
            text += f" [{label}{fmt.format(r['ci_low'])}–{fmt.format(r['ci_high'])}]"
        return text

    for variant, group in df.groupby("variant", sort=False):
        lines = _label_lines(str(variant))
        endpoints = list(dict.fromkeys(group["endpoint"]))
        for i in range(max(len(endpoints), len(lines))):
            # A plain name repeats on each row (greppable); an axis label spreads over rows.
            name = lines[i] if i < len(lines) else (lines[0] if len(lines) == 1 else "")
            name = escape(name)  # brackets are not rich markup
            if i >= len(endpoints):
                table.add_row(name, *[""] * (len(columns) + 1))
                continue
            endpoint = endpoints[i]
            sub = group[group["endpoint"] == endpoint]
            table.add_row(
                name,
                SHORT_ENDPOINTS.get(str(endpoint), str(endpoint)),
                *(cell(sub, metric, fmt) for _, metric, fmt in columns),
                end_section=i == max(len(endpoints), len(lines)) - 1 and len(lines) > 1,
            )
    console.print(table)
    methods = df["interval"].dropna() if "interval" in df.columns else []
    where = "" if wide else f" (bounds: summary.csv, or a terminal ≥ {WIDE_TERMINAL} columns)"
    console.print(f"values over repetitions: {legend(methods)}{where}", highlight=False)


@app.command()
def serve(
    variant: Annotated[str, typer.Argument(help="Variant to start, e.g. django or fastapi.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000,
    database_url: DatabaseUrl = None,
) -> None:
    """Start one variant on its own freshly seeded database, for poking at by hand (Ctrl-C stops)."""
    from chatbench import serve as serve_mod

    serve_mod.serve(variant, port=port, database_url=database_url or None, announce=console.print)


@app.command("loadgen-worker")
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
    from chatbench import loadgen

    if not 0 < master_port < 65536:
        raise UsageError(f"--master-port must be a TCP port (1..65535), not {master_port}.")
    if not 0 < processes <= 64:
        raise UsageError(f"--processes must be above 0 and at most 64, not {processes}.")
    console.print(f"Locust worker(s) connecting to {master}:{master_port}; Ctrl-C stops them.")
    code = loadgen.run_worker(
        master, master_port=master_port, processes=processes, requests_dir=requests_dir
    )
    if code:
        raise typer.Exit(code)


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
            console.print(_sql_table(name, result.sql))
    if failed:
        raise typer.Exit(1)


@app.command()
def crosscheck(
    variants: Variants = None,
    scenario: Annotated[str, typer.Option(help="chat, read, write or detail.")] = "chat",
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
) -> None:
    """Measure each variant with Locust and with wrk in interleaved pairs; exit 1 unless the
    Locust/wrk interval lies within ±5 % for every variant."""
    from chatbench import crosscheck as xc
    from chatbench import variants as variants_mod

    names = tuple(variants_mod.split_names(variants)) if variants else ("django", "fastapi")
    cfg = xc.CrossCheckConfig(
        variants=names,
        scenario=scenario,
        users=users,
        warmup_s=warmup,
        duration_s=duration,
        pairs=pairs,
        database_url=database_url or None,
        server_cpus=server_cpus,
        loadgen_cpus=loadgen_cpus,
        service_env=config_mod.parse_service_env(service_env or []),
        normal_priority=normal_priority,
    )
    result = xc.run(cfg, announce=lambda text: err_console.print(escape(text)))
    path = xc.write(result, out)
    for a in result.agreements:
        colour = "green" if a.agrees else "red"
        console.print(f"[{colour}]{escape(a.sentence())}[/]")
    console.print(f"Cross-check: [bold]{path}[/]")
    if not result.agrees:
        raise typer.Exit(1)


@app.command()
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
    from chatbench import findings as findings_mod

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
    out: Annotated[
        Path | None,
        typer.Option(help="Write compare.md, compare.json and the chart of changes here."),
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="Smallest relative change called significant (0.05 = 5 %).")
    ] = 0.05,
) -> None:
    """Compare two runs: change per variant × endpoint × metric with its interval and a verdict."""
    from chatbench import compare as compare_mod
    from chatbench.results import write_json_atomic, write_text_atomic

    for d in (run_a, run_b):
        _require_run_dir(d)
    if not 0 <= threshold < 1:
        raise UsageError(f"--threshold must be in [0, 1), not {threshold}.")
    result = compare_mod.compare_runs(run_a, run_b, threshold=threshold)
    console.print(compare_mod.to_rich_table(result))
    if out:
        markdown = markdown or out / "compare.md"
        json_out = json_out or out / "compare.json"
    if markdown:
        write_text_atomic(markdown, compare_mod.to_markdown(result))
    if json_out:
        write_json_atomic(json_out, compare_mod.to_json(result))
    written = markdown or json_out
    chart_dir = out or (written.parent if written else None)  # the chart goes with the files
    if chart_dir is not None:
        for path in compare_mod.draw_changes(result, chart_dir):
            console.print(f"Chart: {path}")


@app.command()
def check(
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
    variants: Variants = None,
    users: Users = None,
    duration: Duration = None,
    warmup: Warmup = None,
    repeat: Repeat = None,
    profile: Profile = "ci",
    database_url: DatabaseUrl = None,
    out: OutDir = config_mod.REPO_ROOT / "results",
    server_cpus: ServerCpus = None,
    loadgen_cpus: LoadgenCpus = None,
    service_env: ServiceEnv = None,
) -> None:
    """CI gate: run the ci profile, compare with a baseline (or --base REF), exit 1 on a regression."""
    import dataclasses

    from chatbench import baseline as baseline_mod
    from chatbench import check as check_mod
    from chatbench import history as history_mod

    baseline_path = baseline or baseline_mod.DEFAULT_BASELINE
    if base and (update_baseline or run_dir):
        raise UsageError(
            "--base runs its own A/B run; it cannot be combined with --run or --update-baseline."
        )
    if (repo or budget or not duet) and not base:
        raise UsageError("--repo, --budget and --sequential only apply with --base.")
    if gate not in check_mod.GATES:
        raise UsageError(f"--gate must be one of {', '.join(check_mod.GATES)}, not {gate!r}.")
    if gate == "normalised" and (base or (run_dir and _is_ab_run(run_dir))):
        raise UsageError(
            "--gate normalised does not apply to a same-runner A/B check: both sides share the "
            "machine, so raw figures gate."
        )

    def build(variant_names: tuple[str, ...] | None) -> config_mod.RunConfig:
        return config_mod.build(
            profile, variants=variant_names, users=users, duration_s=duration, warmup_s=warmup,
            repeat=repeat, database_url=database_url or None, out_dir=out,
            server_cpus=server_cpus, loadgen_cpus=loadgen_cpus,
            service_env=config_mod.parse_service_env(service_env or []) or None,
        )  # fmt: skip

    from chatbench import variants as variants_mod

    names = tuple(variants_mod.split_names(variants)) if variants else None
    default_threshold = check_mod.AB_THRESHOLD if base else check_mod.DEFAULT_THRESHOLD
    rule = check_mod.Rule(
        threshold=check_mod.parse_threshold(threshold) if threshold else default_threshold,
        metrics=check_mod.parse_metrics(metric),
        min_repetitions=check_mod.parse_min_repetitions(min_repetitions),
        gate=gate,
    )
    if base:
        rule = check_mod.ab_rule(rule)
    if update_baseline:
        if run_dir:
            from chatbench import baseline_store

            baseline_store.require_complete_run(run_dir)  # same guard as `baseline save`
        else:
            cfg = build(names)
            with RichProgress(_planned(cfg)) as progress:
                run_dir = check_mod.measure(cfg, progress=progress)
        summary = baseline_mod.from_run(run_dir)
        path = baseline_mod.save(summary, baseline_path)
        console.print(f"Baseline written: [bold]{path}[/] (from run {summary.run_id})")
        return
    if base:
        from chatbench import ab

        frameworks = names or config_mod.RunConfig().variants
        estimate = config_mod.build(  # sizes the progress bar: each framework runs twice
            profile, users=users, duration_s=duration, warmup_s=warmup, repeat=repeat
        )
        check_mod.require_repeat(estimate)  # before REF's environment is built
        paired = dataclasses.replace(
            estimate, variants=ab.paired_variants(tuple(frameworks)), duet=duet
        )
        seconds = _planned(paired)
        with RichProgress(seconds) as progress:
            result, candidate = ab.run_ab(
                build, frameworks=frameworks, ref=base, repo=repo or config_mod.REPO_ROOT,
                rule=rule, progress=progress, duet=duet,
                budget_s=check_mod.parse_budget(budget or check_mod.AB_BUDGET),
            )  # fmt: skip
        mode = "ab"
    elif run_dir and _is_ab_run(run_dir):  # re-judge an A/B run, e.g. with another threshold
        from chatbench import ab

        if not threshold:
            rule = dataclasses.replace(rule, threshold=check_mod.AB_THRESHOLD)
        result, candidate = ab.judge_run(run_dir, rule=check_mod.ab_rule(rule))
        mode = "ab"
    else:
        if run_dir:
            _require_run_dir(run_dir)
            cfg = None
        else:
            cfg = build(names)
        import contextlib

        # a bad baseline fails before any load runs
        check_mod.preflight(baseline_path, cfg, rule=rule)
        watch = RichProgress(_planned(cfg)) if cfg else contextlib.nullcontext()
        with watch as progress:
            result, candidate = check_mod.against_baseline(
                baseline_path=baseline_path, cfg=cfg, run_dir=run_dir, rule=rule,
                progress=progress,
            )  # fmt: skip
        mode = "baseline"
    cand_dir = run_dir or Path(out) / candidate.run_id
    console.print(check_mod.to_rich_table(result))
    verdict_path = check_mod.write_outputs(result, cand_dir)
    check_mod.record_history(
        result, candidate, history_path=history_file or history_mod.DEFAULT_HISTORY, mode=mode
    )
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {note}")
    for f in result.regressions:
        err_console.print(f"[bold red]regression:[/] {f.sentence()}")
    console.print(f"{check_mod.headline(result)}\nVerdict: [bold]{verdict_path}[/]")
    if not result.passed:
        raise typer.Exit(1)


def _is_ab_run(run_dir: Path) -> bool:
    from chatbench import ab

    _require_run_dir(run_dir)
    return ab.is_ab_run(run_dir)


def _planned(cfg: config_mod.RunConfig) -> float:
    from chatbench import runner

    return runner.planned_seconds(cfg)


def _require_run_dir(path: Path) -> None:
    if not (path / "meta.json").is_file():
        raise UsageError(f"{path} is not a chatbench run directory (no meta.json).")


# -- baselines and history ------------------------------------------------------------------

baseline_app = typer.Typer(
    help="Save and inspect named baselines in results/baselines/.", no_args_is_help=True
)
app.add_typer(baseline_app, name="baseline")
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
    from chatbench import baseline as baseline_mod
    from chatbench import baseline_store

    path, summary = baseline_store.save_from_run(
        run_dir, name, directory=directory or baseline_mod.BASELINES_DIR, force=force
    )
    for warning in summary.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    for x in summary.excluded:
        err_console.print(
            f"[yellow]note:[/] left out {x.get('variant')} repetition {x.get('repetition')} "
            f"({x.get('reason', 'invalid')})"
        )
    console.print(f"Baseline written: [bold]{path}[/] (from run {summary.run_id})", soft_wrap=True)


@baseline_app.command("show")
def baseline_show(
    baseline: Annotated[str, typer.Argument(help="A baseline NAME or a baseline FILE.")],
    directory: BaselinesDir = None,
) -> None:
    """Print what a baseline holds: settings, variants, repetitions, machine class, date."""
    from chatbench import baseline as baseline_mod
    from chatbench import baseline_store

    path = baseline_store.resolve(baseline, directory or baseline_mod.BASELINES_DIR)
    d = baseline_store.describe(path)
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


@app.command()
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
    """Draw the trend of recorded checks per variant and metric, with the baseline's band."""
    from chatbench import baseline as baseline_mod
    from chatbench import history as history_mod
    from chatbench import history_chart

    source = history_file or history_mod.DEFAULT_HISTORY
    if last < 0:
        raise UsageError(f"--last must be 0 or more, not {last}.")
    if baseline is not None and mode != "baseline":
        raise UsageError("--baseline applies to --mode baseline only (A/B checks have no band).")
    if baseline is None and mode == "baseline" and baseline_mod.DEFAULT_BASELINE.is_file():
        baseline = baseline_mod.DEFAULT_BASELINE
    trend = history_chart.build_trend(
        history_mod.read(source), source=source, mode=mode, variants=variant, metrics=metric,
        endpoint=endpoint, baseline=baseline_mod.load(baseline) if baseline else None,
        baseline_label=baseline.name if baseline else None,
    )  # fmt: skip
    table = history_chart.to_rich_table(trend, last=last)
    if not console.is_terminal:  # CI logs: print the whole table rather than squeeze it to 80
        from rich.measure import Measurement

        wide = console.options.update(max_width=400)
        needed = Measurement.get(console, wide, table).maximum
        Console(width=max(console.width, needed)).print(table)
    else:
        console.print(table)
    for path in history_chart.draw(trend, out or Path(source).parent / "history"):
        console.print(f"Chart: {path}", soft_wrap=True)


@contextlib.contextmanager
def _terminate_like_ctrl_c() -> Iterator[None]:
    """SIGTERM (kill, timeout, docker stop) cleans up like Ctrl-C: services, Locust and
    Postgres are stopped and a run directory is marked incomplete."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn chatbench errors into one sentence and an exit code."""
    with _terminate_like_ctrl_c():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:  # typer.Exit(n) is returned, not raised, here
            return code
    except ChatbenchError as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}")
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
    except _click_errors() as exc:  # unknown option, unparsable value, missing argument
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        message = exc.format_message().rstrip(".")
        if message:  # empty when Click has just printed the help (no arguments at all)
            err_console.print(f"[bold red]error:[/] {message}{hint}.", highlight=False)
        return exc.exit_code if exc.exit_code else 2
    return 0


def _click_errors() -> tuple[type[Exception], ...]:
    """Click's exception base: Typer 0.29 vendors Click as ``typer._click``; older use click."""
    found: list[type[Exception]] = []
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        found.append(VendoredClickException)
    except ImportError:
        pass
    try:
        from click import ClickException

        found.append(ClickException)
    except ImportError:
        pass
    return tuple(found)


if __name__ == "__main__":
    sys.exit(main())
