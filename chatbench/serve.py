"""Start variants by hand (`chatbench serve`) or for a contract check (`chatbench verify`).

Both provision a database the same way a run does (embedded cluster or ``DATABASE_URL``,
seeded template, one clone per variant), so what you poke at is what gets measured.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from chatbench import postgres, servers, sqlwork
from chatbench import variants as variants_mod
from chatbench import verify as verify_mod


@contextlib.contextmanager
def provisioned_server(database_url: str | None, seed: postgres.SeedSpec) -> Iterator[str]:
    """A Postgres server URL with the seeded template; embedded unless ``database_url``."""
    if database_url:
        postgres.wait_ready(database_url, timeout_s=15)
        postgres.create_template(database_url, seed)
        yield database_url
        return
    with postgres.EmbeddedCluster.start() as cluster:
        postgres.create_template(cluster.url, seed)
        yield cluster.url


def serve(
    variant: str,
    *,
    port: int,
    database_url: str | None,
    announce: Callable[[str], None] = print,
    seed: postgres.SeedSpec | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run one variant on 127.0.0.1:``port`` until Ctrl-C (or ``stop`` is set)."""
    spec = variants_mod.get(variant)
    if postgres.port_in_use(port):
        from chatbench.errors import UsageError

        raise UsageError(f"Port {port} on 127.0.0.1 is already in use; pass --port.")
    seed = seed or postgres.SeedSpec()
    stop = stop or threading.Event()
    log_dir = Path(tempfile.mkdtemp(prefix="chatbench-serve-"))
    with provisioned_server(database_url, seed) as server_url:
        db_url = postgres.clone_database(server_url, "cb_serve_" + spec.name.replace("-", "_"))
        with servers.start_server(
            spec, database_url=db_url, port=port, log_path=log_dir / "service.log"
        ) as srv:
            announce(f"{spec.name} is serving at {srv.base_url}  (docs: {srv.base_url}/docs)")
            announce(
                f"database: {postgres.redact(db_url)}  seeded sessions seed-00000..seed-{seed.sessions - 1:05d}"
            )
            announce(f"service log: {srv.log_path}   Ctrl-C stops everything")
            try:
                while not stop.wait(0.5):
                    srv.check_alive()
            except KeyboardInterrupt:
                announce("stopping")


@dataclass
class VerifyResult:
    """One variant's contract smoke check and, when its database is reachable, the SQL each
    endpoint runs alone (statements, rows and DB time per call, with the statement texts)."""

    checks: list[verify_mod.Check]
    sql: dict[str, dict] | None = None


def verify(
    variant_list: str | None,
    *,
    url: str | None = None,
    database_url: str | None = None,
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
        provisioned_server(database_url, postgres.SeedSpec(sessions=20, messages=5)) as server_url,
    ):
        log_dir = Path(logs)
        for spec in specs:
            db_url = postgres.clone_database(server_url, "cb_verify_" + spec.name.replace("-", "_"))
            with servers.start_server(
                spec,
                database_url=db_url,
                port=postgres.free_port(),
                log_path=log_dir / f"{spec.name}.log",
            ) as srv:
                checks = verify_mod.smoke_check(srv.base_url)
                sql = (
                    sqlwork.profile_endpoints(srv.base_url, db_url)
                    if all(c.ok for c in checks)
                    else None
                )
                results[spec.name] = VerifyResult(checks, sql)
    return results
