"""``chatbench serve`` and ``chatbench verify``: variants started by hand or for a contract check.

Both provision a database the same way a run does (``provisioning.provision``: the embedded
cluster or ``CHATBENCH_DATABASE_URL``, the seeded template, one clone per variant), so what you poke at
is what gets measured.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbench.configuration import variants as variants_mod
from chatbench.configuration.urls import redact
from chatbench.errors import UsageError
from chatbench.measuring import sqlwork
from chatbench.provisioning.ports import free_port, port_in_use
from chatbench.provisioning.provision import database_name, provision
from chatbench.provisioning.seed import SeedSpec
from chatbench.serving import openapi_contract, servers
from chatbench.serving import verify as verify_mod
from chatbench.workflows import contract

VERIFY_SEED = SeedSpec(sessions=20, messages=5)


def serve(
    variant: str,
    *,
    port: int,
    database_url: str | None,
    announce: Callable[[str], None] = print,
    seed: SeedSpec | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run one variant on 127.0.0.1:``port`` until Ctrl-C (or ``stop`` is set)."""
    spec = variants_mod.get(variant)
    if port_in_use(port):
        raise UsageError(f"Port {port} on 127.0.0.1 is already in use; pass --port.")
    seed = seed or SeedSpec()
    stop = stop or threading.Event()
    log_dir = Path(tempfile.mkdtemp(prefix="chatbench-serve-"))
    with provision(seed, database_url=database_url) as ready:
        db_url = ready.clone(database_name(spec.name, "serve"))
        with servers.start_server(
            spec, database_url=db_url, port=port, log_path=log_dir / "service.log"
        ) as srv:
            announce(f"{spec.name} is serving at {srv.base_url}  (docs: {srv.base_url}/docs)")
            announce(
                f"database: {redact(db_url)}  seeded sessions seed-00000..seed-{seed.sessions - 1:05d}"
            )
            announce(f"service log: {srv.log_path}   Ctrl-C stops everything")
            try:
                while not stop.wait(0.5):
                    srv.check_alive()
            except KeyboardInterrupt:
                announce("stopping")


def verify_openapi(
    variant_list: str | None,
    *,
    url: str | None = None,
    database_url: str | None = None,
    examples: int = openapi_contract.EXAMPLES,
    announce: Callable[[str], None] = print,
) -> openapi_contract.ContractReport:
    """``verify --contract openapi``: the variants (default: the two a run compares), each on
    its own clone of the same seeded data, or one running service at ``url`` (held to its own
    document only)."""
    if url:
        return contract.check_targets({url: url}, on_phase=announce)
    names = variant_list or ",".join(variants_mod.DEFAULT_VARIANTS)
    specs = {spec.name: spec for spec in variants_mod.parse_list(names)}
    with provision(VERIFY_SEED, database_url=database_url) as ready:
        return contract.check_variants(specs, ready.clone, examples=examples, on_phase=announce)


@dataclass(frozen=True)
class VerifyResult:
    """One variant's contract smoke check and, when its database is reachable, the SQL each
    endpoint runs alone (statements, rows and DB time per call, with the statement texts)."""

    checks: list[verify_mod.Check]
    sql: dict[str, dict[str, Any]] | None = None


def verify(
    variant_list: str | None, *, url: str | None = None, database_url: str | None = None
) -> dict[str, VerifyResult]:
    """The contract smoke check for each variant (started here) or for a running service.

    Variants started here also get the per-endpoint SQL profile (the same one `chatbench run`
    records), so the database work of each endpoint can be seen without running load.
    """
    if url:
        return {url: VerifyResult(verify_mod.smoke_check(url))}
    specs = (
        variants_mod.parse_list(variant_list)
        if variant_list
        else tuple(variants_mod.REGISTRY.values())
    )
    results: dict[str, VerifyResult] = {}
    # Service logs only matter while a service starts: a failed start quotes their tail.
    with (
        tempfile.TemporaryDirectory(prefix="chatbench-verify-") as logs,
        provision(VERIFY_SEED, database_url=database_url) as ready,
    ):
        for spec in specs:
            db_url = ready.clone(database_name(spec.name, "verify"))
            with servers.start_server(
                spec,
                database_url=db_url,
                port=free_port(),
                log_path=Path(logs) / f"{spec.name}.log",
            ) as srv:
                checks = verify_mod.smoke_check(srv.base_url)
                ok = all(c.ok for c in checks)
                sql = sqlwork.profile_endpoints(srv.base_url, db_url) if ok else None
                results[spec.name] = VerifyResult(checks, sql)
    return results
