"""``python -m chatbench.cli.seed``: seed the template and clone one database per service.

The docker-compose ``seed`` service runs this against the ``postgres`` container, so a
compose deployment gets its data the way ``chatbench run`` does: ``postgres/schema.sql``,
``pg_stat_statements`` and the deterministic rows go into one template database
(:func:`chatbench.provisioning.provision.provision`), and every service database is a
``CREATE DATABASE … TEMPLATE`` clone of it, so all of them start byte-identical. It prints each
clone's row count and checksum as the evidence.

    CHATBENCH_DATABASE_URL=postgresql://postgres:pw@postgres:5432/postgres \\
      python -m chatbench.cli.seed --database chatbench_django --database chatbench_fastapi

Seed size comes from ``CHATBENCH_SEED_SESSIONS`` / ``CHATBENCH_SEED_MESSAGES``, the same
variables the locustfile reads, so the load generator and the data always agree.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from chatbench.errors import ChatbenchError, UsageError
from chatbench.provisioning import postgres
from chatbench.provisioning.provision import provision
from chatbench.provisioning.seed import SeedSpec

_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_DEFAULTS = SeedSpec()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise UsageError(f"{name} must be a whole number, not {raw!r}.")
    return int(raw)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chatbench.cli.seed",
        description="Seed the chatbench template database and clone one database per service.",
    )
    parser.add_argument(
        "--database",
        action="append",
        required=True,
        metavar="NAME",
        help="a service database to (re)create as a clone of the template (repeatable)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CHATBENCH_DATABASE_URL", ""),
        help="admin URL of the server (default: $CHATBENCH_DATABASE_URL)",
    )
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="random seed of the rows")
    parser.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for the server to accept"
    )
    return parser


def seed(args: argparse.Namespace) -> list[tuple[str, int, str]]:
    """Create the template and the clones; returns (database, rows, checksum) per clone."""
    if not args.database_url:
        raise UsageError(
            "Give the server's admin URL with --database-url or CHATBENCH_DATABASE_URL."
        )
    for name in args.database:
        if not _DB_NAME.fullmatch(name) or name == postgres.TEMPLATE_DB:
            raise UsageError(
                f"{name!r} is not a usable database name (lowercase letters, digits, underscores)."
            )
    spec = SeedSpec(
        sessions=_env_int("CHATBENCH_SEED_SESSIONS", _DEFAULTS.sessions),
        messages=_env_int("CHATBENCH_SEED_MESSAGES", _DEFAULTS.messages),
        seed=args.seed,
    )
    if spec.sessions < 1 or spec.messages < 1:
        raise UsageError("CHATBENCH_SEED_SESSIONS and CHATBENCH_SEED_MESSAGES must be at least 1.")
    evidence = []
    with provision(spec, database_url=args.database_url, wait_s=args.wait) as ready:
        for name in args.database:
            url = ready.clone(name)
            evidence.append((name, postgres.row_count(url), postgres.data_checksum(url)))
    return evidence


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # argparse exits 2 with its own one-line message
    try:
        evidence = seed(args)
    except ChatbenchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    for name, rows, checksum in evidence:
        print(f"{name}: {rows} rows, md5 {checksum}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
