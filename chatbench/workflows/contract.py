"""The OpenAPI contract check (``--contract openapi``): for ``chatbench verify`` and before a
run measures.

Each variant is started on its own clone of the same data (or, with ``--target``, the running
services are used as they are), ``serving.openapi_contract.compare`` holds each to its own
document and all of them to each other, and the services are stopped again: a run then starts
its services afresh, so the generated requests leave nothing in the databases it measures.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from chatbench.configuration.variants import VariantSpec
from chatbench.errors import ServerError
from chatbench.provisioning.ports import free_port
from chatbench.provisioning.provision import database_name
from chatbench.serving import openapi_contract, servers
from chatbench.serving.openapi_contract import ContractReport, Service
from chatbench.storing import record as rec


def check_variants(
    specs: Mapping[str, VariantSpec],
    clone: Callable[[str], str],
    *,
    examples: int = openapi_contract.EXAMPLES,
    seed: int = openapi_contract.SEED,
    on_phase: Callable[[str], None] = lambda _: None,
) -> ContractReport:
    """Start every variant on a fresh clone (``clone(name) -> URL``), compare, stop them."""
    with contextlib.ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chatbench-contract-")))
        services = []
        for name, spec in specs.items():
            on_phase(f"{name}: starting it for the OpenAPI contract check")
            url = clone(database_name(name, "contract"))
            server = stack.enter_context(
                servers.start_server(
                    spec, database_url=url, port=free_port(), log_path=logs / f"{name}.log"
                )
            )
            services.append(Service(name, server.base_url, spec.openapi_path))
        on_phase(f"OpenAPI contract check of {', '.join(specs)}")
        return openapi_contract.compare(services, examples=examples, seed=seed)


def check_targets(
    targets: Mapping[str, str], *, on_phase: Callable[[str], None] = lambda _: None
) -> ContractReport:
    """The running services of a ``--target`` run, as they are."""
    on_phase(f"OpenAPI contract check of {', '.join(targets)}")
    return openapi_contract.compare(Service(name, url) for name, url in targets.items())


def record(report: ContractReport) -> rec.ContractRecord:
    return rec.ContractRecord.model_validate(report.as_dict())


def require(report: ContractReport) -> None:
    """A ServerError (one sentence, the findings below it) unless the check passed."""
    if report.ok:
        return
    lines = [f"  ✗ {d.sentence()}" for d in report.differences[:10]]
    lines += [f"  ✗ {v.sentence()}" for v in report.violations[:10]]
    raise ServerError(
        "The variants failed the OpenAPI contract check before load: " + report.summary(),
        detail="\n".join(lines),
    )
