"""Options shared by several commands, declared once (``Annotated`` aliases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chatbench.configuration.paths import RESULTS_DIR

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
    str | None,
    typer.Option(
        help="Measure an already running service at this loopback URL instead of starting "
        "variants (needs --variant-label; --database-url = its database, for the integrity check)."
    ),
]
VariantLabel = Annotated[
    str | None, typer.Option(help="Name of the --target service in the results.")
]
DEFAULT_OUT = RESULTS_DIR
