"""Options shared by several commands, declared once (``Annotated`` aliases).

Choices come from where they are defined (the profiles module's scenarios and modes, the
profile and suite files, the variant registry), so ``--help`` and shell completion list them
and stay in step; variants are still validated when the run starts (``variants.parse_list``),
through the registry, whose entries may grow after this module is imported.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from chatbench.cli.app import OPTION_FILE_META
from chatbench.configuration import optionfile
from chatbench.configuration import profiles as profiles_cfg
from chatbench.configuration import settings as settings_cfg
from chatbench.configuration import variants as variants_cfg
from chatbench.configuration.paths import DEFAULT_RESULTS_DIR

# StrEnum members are plain strings everywhere below the CLI (==, format, JSON).
ScenarioChoice = enum.StrEnum("ScenarioChoice", {s: s for s in profiles_cfg.SCENARIOS})
ModeChoice = enum.StrEnum("ModeChoice", {m: m for m in profiles_cfg.MODES})
ContractChoice = enum.StrEnum("ContractChoice", {c: c for c in settings_cfg.CONTRACTS})
ArrivalsChoice = enum.StrEnum("ArrivalsChoice", {a: a for a in settings_cfg.ARRIVALS})


def complete_variants(incomplete: str) -> list[str]:
    """Registry names for shell completion, after the last comma of a list being typed."""
    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    return [prefix + name for name in variants_cfg.REGISTRY if name.startswith(last)]


def complete_profiles(incomplete: str) -> list[str]:
    return [name for name in profiles_cfg.profile_names() if name.startswith(incomplete)]


Variants = Annotated[
    str | None,
    typer.Option(
        "--variants",
        help="Comma-separated variants, e.g. django,fastapi; one of "
        f"{', '.join(variants_cfg.REGISTRY)}, or one with axes set (see `chatbench list`).",
        autocompletion=complete_variants,
    ),
]
Scenario = Annotated[
    ScenarioChoice | None, typer.Option(help="Request mix (default chat).", show_choices=True)
]
Contract = Annotated[
    ContractChoice | None,
    typer.Option(
        help="What the variants are checked against before load: chat, the bundled ChatMessage "
        "contract (default); openapi, each variant's own OpenAPI document and the variants "
        "against each other (schemathesis, docs/own-services.md); none.",
        show_choices=True,
    ),
]
Workload = Annotated[
    Path | None,
    typer.Option(
        help="A TOML workload file to run instead of --scenario's built-in one "
        "(loadtests/workloads/*.toml are the built-in ones; docs/workloads.md).",
    ),
]
VariantsFile = Annotated[
    list[Path] | None,
    typer.Option(
        "--variants-file",
        help="A TOML variant file whose [variants.NAME] tables join the registry (repeatable; "
        "docs/variants.md).",
    ),
]
Mode = Annotated[
    ModeChoice | None,
    typer.Option(help="closed (N users, no wait), rate (fixed req/s) or ramp.", show_choices=True),
]
Arrivals = Annotated[
    ArrivalsChoice | None,
    typer.Option(
        help="How the open-model sends line up (rate mode, equal load, --slo, the open-model "
        "generator): even, evenly spaced (default); poisson, a Poisson process.",
        show_choices=True,
    ),
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
    str,
    typer.Option(
        help=f"Load profile: {', '.join(profiles_cfg.profile_names())}, or a .toml file.",
        autocompletion=complete_profiles,
    ),
]
Threshold = Annotated[
    str | None,
    typer.Option(
        help="Smallest relative change called significant: 5% or 0.05 alike (default 5%)."
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        envvar="CHATBENCH_DATABASE_URL",
        help="Use this PostgreSQL server instead of the embedded one: chatbench creates its "
        "databases there and drops only those it created.",
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
    list[str] | None,
    typer.Option(
        help="Measure already running services instead of starting variants: NAME=URL on "
        "loopback, repeatable, measured interleaved; or one plain URL with --variant-label "
        "(--database-url = its database, for the integrity check)."
    ),
]
VariantLabel = Annotated[
    str | None, typer.Option(help="Name of the --target service in the results.")
]
DEFAULT_OUT = DEFAULT_RESULTS_DIR


# ``chatbench run``: every option also from CHATBENCH_<OPTION> (Click's automatic environment
# variables) and from chatbench.toml (``app.load_option_file`` makes it the command's defaults).
RUN_CONTEXT = {"auto_envvar_prefix": optionfile.ENV_PREFIX}


def option_origins(ctx: typer.Context) -> dict[str, str]:
    """Where each option's value came from, by option name: "command line", "environment
    CHATBENCH_<OPTION>", "file <path of chatbench.toml>" or "default"."""
    origins: dict[str, str] = {}
    for param in ctx.command.params:
        name = param.name or ""
        source = ctx.get_parameter_source(name)
        kind = getattr(source, "name", "")
        if kind == "COMMANDLINE":
            origins[name] = "command line"
        elif kind == "ENVIRONMENT":
            envvar = param.envvar or f"{ctx.auto_envvar_prefix}_{name.upper()}"
            origins[name] = f"environment {envvar}"
        elif kind == "DEFAULT_MAP":
            origins[name] = f"file {ctx.meta.get(OPTION_FILE_META, optionfile.OPTION_FILE)}"
        else:
            origins[name] = "default"
    return origins
