"""The variants registry: how each service-under-test is started.

A variant is a service plus how it is served. The harness starts it only through its command
line and configures it only through environment variables (names in docs/interfaces.md, shared
with the Dockerfiles). Adding a variant is one entry in ``REGISTRY``.

Worker counts follow each server's own documented recommendation for the CPU budget the
service is pinned to, and are recorded in every run's metadata:
- gunicorn: ``2 * cpus + 1`` workers ("(2 x $num_cores) + 1", gunicorn's design docs), gthread
  with 2 threads so HTTP keep-alive works as it does on uvicorn (sync workers close every
  connection);
- uvicorn: one worker process per core (uvicorn's deployment docs).
Every variant gets the same cap on database connections (``CHATBENCH_DB_MAX_CONNECTIONS``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from chatbench.errors import UsageError

DEFAULT_DB_MAX_CONNECTIONS = 10
GTHREAD_THREADS = 2

GUNICORN_WSGI = (
    "-m", "gunicorn", "--config", "python:impl_django.gunicorn_conf",
    "impl_django.project.wsgi:application",
)  # fmt: skip
DJANGO_ASGI = ("-m", "impl_django.serve_asgi")
FASTAPI_SERVE = ("-m", "impl_fastapi.serve")


@dataclass(frozen=True)
class VariantSpec:
    """One registry entry: a service and the way it is served."""

    name: str
    framework: str  # "django" | "fastapi": which service package
    server: str  # "gthread" | "sync" | "asgi" | "uvicorn"
    description: str
    args: tuple[str, ...]  # after the Python interpreter
    env: Mapping[str, str] = field(default_factory=dict)
    health_path: str = "/health"

    def workers_for(self, cpus: int) -> int:
        cpus = max(1, cpus)
        return 2 * cpus + 1 if self.server in ("gthread", "sync") else cpus

    def threads_for(self) -> int:
        return GTHREAD_THREADS if self.server == "gthread" else 1

    def command(self) -> list[str]:
        return [sys.executable, *self.args]

    def service_env(
        self,
        *,
        database_url: str,
        port: int,
        cpus: int,
        host: str = "127.0.0.1",
        db_max_connections: int = DEFAULT_DB_MAX_CONNECTIONS,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment the service reads (its whole configuration)."""
        env = {
            "DATABASE_URL": database_url,
            "CHATBENCH_HOST": host,
            "CHATBENCH_PORT": str(port),
            "CHATBENCH_WORKERS": str(self.workers_for(cpus)),
            "CHATBENCH_THREADS": str(self.threads_for()),
            "CHATBENCH_SERVER": self.server,
            "CHATBENCH_DB_MAX_CONNECTIONS": str(db_max_connections),
            "CHATBENCH_DB_POOL": "persistent",
            **self.env,
        }
        if extra:
            env.update(extra)
        return env


REGISTRY: dict[str, VariantSpec] = {
    spec.name: spec
    for spec in (
        VariantSpec(
            name="django",
            framework="django",
            server="gthread",
            description="Django 5.2 + DRF on gunicorn (gthread), psycopg 3, persistent connections",
            args=GUNICORN_WSGI,
        ),
        VariantSpec(
            name="fastapi",
            framework="fastapi",
            server="uvicorn",
            description="FastAPI async endpoints, SQLAlchemy AsyncSession on asyncpg, uvicorn",
            args=FASTAPI_SERVE,
            env={"CHATBENCH_FASTAPI_ROUTES": "async"},
        ),
        VariantSpec(
            name="fastapi-sync",
            framework="fastapi",
            server="uvicorn",
            description="FastAPI plain def endpoints, sync Session on psycopg 3, threadpool",
            args=FASTAPI_SERVE,
            env={"CHATBENCH_FASTAPI_ROUTES": "sync"},
        ),
        VariantSpec(
            name="fastapi-seed",
            framework="fastapi",
            server="uvicorn",
            description="FastAPI async def endpoints calling a sync Session (blocks the event loop)",
            args=FASTAPI_SERVE,
            env={"CHATBENCH_FASTAPI_ROUTES": "seed"},
        ),
    )
}

DEFAULT_VARIANTS = ("django", "fastapi")


def get(name: str) -> VariantSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise UsageError(f"Unknown variant {name!r}; known variants: {known}.") from None


def parse_list(text: str) -> tuple[VariantSpec, ...]:
    """``"django,fastapi"`` → specs, in order, without duplicates."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--variants needs at least one variant name.")
    if len(set(names)) != len(names):
        raise UsageError(f"--variants lists a variant twice: {text!r}.")
    return tuple(get(n) for n in names)
