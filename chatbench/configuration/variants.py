"""The variants registry: how each service-under-test is started.

A variant is a service plus how it is served. The harness starts it only through its command
line and configures it only through environment variables (names in docs/interfaces.md, shared
with the Dockerfiles). Variants are declared in TOML variant files (``variantfile``): the
built-in ones in ``variants.toml`` beside this module, a project's own in ``variants.toml`` at
its root or a file given with ``--variants-file`` (``register_file``); adding one needs no code.

Worker counts follow each server's own documented recommendation for the CPU budget the
service is pinned to, and are recorded in every run's metadata:
- gunicorn: ``2 * cpus + 1`` workers ("(2 x $num_cores) + 1", gunicorn's design docs), gthread
  with 2 threads so HTTP keep-alive works as it does on uvicorn (sync workers close every
  connection);
- uvicorn: one worker process per core (uvicorn's deployment docs);
- granian (the ``server=granian`` axis, on both frameworks): one worker per core (granian's
  docs), a WSGI worker running Django's sync views on 2 blocking threads as gthread does.
Every variant gets the same cap on database connections (``CHATBENCH_DB_MAX_CONNECTIONS``), and
the worker count is lowered where the recommendation would hold more connections than the cap
(``VariantSpec.workers_for``).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from chatbench.configuration import variantfile
from chatbench.configuration.paths import REPO_ROOT
from chatbench.errors import UsageError

DEFAULT_DB_MAX_CONNECTIONS = 10
GTHREAD_THREADS = 2

GUNICORN_WSGI = (
    "-m", "gunicorn", "--config", "python:impl_django.gunicorn_conf",
    "impl_django.project.wsgi:application",
)  # fmt: skip
DJANGO_ASGI = ("-m", "impl_django.serve_asgi")
# WSGI for the sync views, ASGI for the async ones; the FastAPI service picks granian itself
# from CHATBENCH_SERVER (impl_fastapi/serve.py).
DJANGO_GRANIAN = ("-m", "impl_django.serve_granian")


# How a variant runs its request handlers (``Claims.handlers``), in the words its description uses.
HANDLERS = {
    "threads": "plain def handlers on worker threads",
    "event-loop": "async handlers and middleware on the event loop",
    "blocking": "async handlers calling a sync Session (blocks the event loop)",
}


@dataclass(frozen=True)
class Claims:
    """What a registry variant's description says, one checkable part each.

    The description is composed from these (``sentence``), and tests/services/test_variant_claims.py
    observes each part on the real thing: the server process started from the variant's command
    and environment, and the app objects imported with that same environment.
    """

    stack: str  # framework and API layer: "Django 5.2 + DRF", "Django 5.2 + adrf", "FastAPI"
    server: str  # the HTTP server seen from outside: "gunicorn gthread" | "uvicorn"
    handlers: str  # a key of HANDLERS
    data: str  # ORM or session, and database driver
    connections: str  # how database connections are held

    def sentence(self) -> str:
        return (
            f"{self.stack} on {self.server}: {HANDLERS[self.handlers]}; {self.data}; "
            f"{self.connections}"
        )


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
    openapi_path: str = "/openapi.json"
    axes: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None  # source tree to run from (cwd); None = this checkout
    python: str | None = None  # interpreter to run it with; None = this one (sys.executable)
    claims: Claims | None = None  # registry entries: what ``description`` is composed from

    def workers_for(self, cpus: int, db_max_connections: int | None = None) -> int:
        """Worker processes for ``cpus`` service CPUs: the server's recommendation, but no
        more than the connection cap allows. Each gunicorn thread holds its own persistent
        connection, so ``workers × threads`` must stay within ``db_max_connections`` (2 × 3 + 1
        workers × 2 threads = 14 would break a cap of 10 on a 3-CPU service). An explicit
        ``CHATBENCH_WORKERS`` (the ``workers`` axis) is taken as given; the fairness rule
        judges it."""
        cpus = max(1, cpus)
        if "CHATBENCH_WORKERS" in self.env:
            return int(self.env["CHATBENCH_WORKERS"])
        workers = 2 * cpus + 1 if self.server in ("gthread", "sync") else cpus
        if db_max_connections:
            workers = min(workers, max(1, db_max_connections // self.threads_for()))
        return workers

    def threads_for(self) -> int:
        wsgi_granian = (
            self.server == "granian"
            and self.framework == "django"
            and self.env.get("CHATBENCH_DJANGO_VIEWS") != "async"
        )
        return GTHREAD_THREADS if self.server == "gthread" or wsgi_granian else 1

    def command(self) -> list[str]:
        return [self.python or sys.executable, *self.args]

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
            "CHATBENCH_WORKERS": str(self.workers_for(cpus, db_max_connections)),
            "CHATBENCH_THREADS": str(self.threads_for()),
            "CHATBENCH_SERVER": self.server,
            "CHATBENCH_DB_MAX_CONNECTIONS": str(db_max_connections),
            "CHATBENCH_DB_POOL": "persistent",
            **{k: v for k, v in self.env.items() if k != "CHATBENCH_CACHE"},
        }
        if extra:
            env.update(extra)
        return env


def spec_from_entry(name: str, entry: variantfile.VariantEntry, source: str) -> VariantSpec:
    """A registry entry from a variant file's ``[variants.NAME]`` table."""
    claims = None
    if entry.claims is not None:
        claims = Claims(**entry.claims.model_dump())
        if claims.handlers not in HANDLERS:
            raise UsageError(
                f"Variant file {source}: key variants.{name}.claims.handlers: choose one of "
                f"{', '.join(HANDLERS)}."
            )
    directory = None
    if entry.directory is not None:
        where = Path(entry.directory).expanduser()
        if not where.is_absolute():
            where = Path(source).resolve().parent / where
        if not where.is_dir():
            raise UsageError(
                f"Variant file {source}: key variants.{name}.directory: {where} is not a directory."
            )
        directory = str(where.resolve())
    return VariantSpec(
        name=name,
        framework=entry.framework,
        server=entry.server,
        description=entry.description or claims.sentence(),  # type: ignore[union-attr]
        args=entry.command,
        env=dict(entry.env),
        health_path=entry.health_path,
        openapi_path=entry.openapi_path,
        claims=claims,
        source=directory,
    )


REGISTRY: dict[str, VariantSpec] = {}
# Where each registry entry was declared, so a second file cannot silently redefine a name.
_DECLARED_IN: dict[str, str] = {}


def register_file(path: Path | str, *, text: str | None = None) -> tuple[str, ...]:
    """Add the variants declared in a variant file to ``REGISTRY``; their names, in file order.

    Reading the same file again replaces its own entries; a name another file declared is a
    ``UsageError`` naming both files."""
    source = str(path)
    entries = variantfile.parse(text, source) if text is not None else variantfile.load(Path(path))
    specs = [spec_from_entry(name, entry, source) for name, entry in entries.items()]
    # One file however it is spelled (relative, absolute, through a link).
    origin = source if text is not None else str(Path(path).resolve())
    for spec in specs:
        other = _DECLARED_IN.get(spec.name)
        if other is not None and other != origin:
            raise UsageError(
                f"Variant file {source}: key variants.{spec.name}: that variant is already "
                f"declared in {other}."
            )
    for spec in specs:
        REGISTRY[spec.name] = spec
        _DECLARED_IN[spec.name] = origin
    return tuple(spec.name for spec in specs)


# The built-in variants (package data, so an installed wheel has them too), then the project's
# own file beside the checkout when there is one.
BUILTIN_FILE = "variants.toml"
PROJECT_FILE = REPO_ROOT / "variants.toml"
register_file(
    f"chatbench/configuration/{BUILTIN_FILE}",
    text=resources.files("chatbench.configuration").joinpath(BUILTIN_FILE).read_text("utf-8"),
)
if PROJECT_FILE.is_file():
    register_file(PROJECT_FILE)

DEFAULT_VARIANTS = ("django", "fastapi")


# -- axes: settings of a variant, with the same meaning on both frameworks -----------------
GC_MODES = ("default", "freeze", "threshold")  # CHATBENCH_GC, read by both services
# name -> allowed values per framework. docs/experiments.md's axis table documents what each means.
AXES: dict[str, dict[str, tuple[str, ...]]] = {
    "pool": {"django": ("none", "persistent", "pool"), "fastapi": ("none", "persistent", "pool")},
    "cache": {"django": ("off", "valkey"), "fastapi": ("off", "valkey")},
    "server": {"django": ("gthread", "sync", "asgi", "granian"), "fastapi": ("uvicorn", "granian")},
    "workers": {"django": (), "fastapi": ()},  # any positive integer
    # The runtime axis: each service's gcpauses.py says what freeze and threshold do.
    "gc": {"django": GC_MODES, "fastapi": GC_MODES},
}


# The server program behind an axis value where its name is not the program's: Django's
# ``server=asgi`` is uvicorn (impl_django/serve_asgi.py), as FastAPI's ``server=uvicorn``.
SERVER_PROGRAMS = {"asgi": "uvicorn"}

# Servers that run Django's async views (over ASGI).
ASYNC_SERVERS = ("asgi", "granian")


def with_axes(base: VariantSpec, axes: Mapping[str, str]) -> VariantSpec:
    """``base`` with axis values applied; its name becomes e.g. ``django[pool=none,server=sync]``."""
    env = dict(base.env)
    server = base.server
    args = base.args
    for axis, value in axes.items():
        if axis not in AXES:
            raise UsageError(f"Unknown axis {axis!r}; known axes: {', '.join(AXES)}.")
        if base.framework not in AXES[axis]:
            raise UsageError(f"Axis {axis} does not apply to {base.name} ({base.framework}).")
        allowed = AXES[axis][base.framework]
        if axis == "workers":
            if not value.isdigit() or not 0 < int(value) <= 64:
                raise UsageError(f"Axis workers takes a whole number from 1 to 64, not {value!r}.")
            env["CHATBENCH_WORKERS"] = value
        elif value not in allowed:
            raise UsageError(
                f"Axis {axis} has no value {value!r} for {base.framework}; choose one of {', '.join(allowed)}."
            )
        elif axis == "pool":
            env["CHATBENCH_DB_POOL"] = value
        elif axis == "cache":
            env["CHATBENCH_CACHE"] = value  # the runner turns "valkey" into CHATBENCH_CACHE_URL
        elif axis == "gc":
            env["CHATBENCH_GC"] = value
        elif axis == "server" and base.framework == "django":
            if base.env.get("CHATBENCH_DJANGO_VIEWS") == "async" and value not in ASYNC_SERVERS:
                raise UsageError(
                    f"{base.name} runs async views, which need server=asgi or server=granian."
                )
            server = value
            args = {"asgi": DJANGO_ASGI, "granian": DJANGO_GRANIAN}.get(value, GUNICORN_WSGI)
        elif axis == "server":
            server = value  # the service reads CHATBENCH_SERVER and picks its server itself
    if not axes:
        return base
    label = ",".join(f"{k}={v}" for k, v in axes.items())
    return dataclasses.replace(
        base,
        name=f"{base.name}[{label}]",
        server=server,
        args=args,
        env=env,
        axes=dict(axes),
        # The base's claims no longer all hold; docs/experiments.md's axis table says what each value changes.
        description=f"{base.description}; except as set by {label}",
        claims=None,
    )


@dataclass(frozen=True)
class SourceTree:
    """Where the services of a ``variant@label`` name come from: a checkout of another commit
    (``path``, the services' working directory) and the interpreter to run them with
    (``python``; None: this one). Same-runner A/B (``chatbench.workflows.ab``) names its two
    sides ``X@base`` and ``X@head`` and hands the trees to the run in its ``RunConfig``."""

    path: str
    python: str | None = None


def get(name: str, sources: Mapping[str, SourceTree] | None = None) -> VariantSpec:
    """A registry entry by name, ``base[axis=value,…]`` for a variant with axes applied, or
    ``variant@label`` for one served from ``sources[label]``."""
    if "@" in name:
        plain, _, label = name.rpartition("@")
        tree = (sources or {}).get(label)
        if tree is None:
            raise UsageError(f"Variant {name!r} names source tree {label!r}, which is not set up.")
        return dataclasses.replace(get(plain), name=name, source=tree.path, python=tree.python)
    base_name, axes = _split_label(name)
    try:
        base = REGISTRY[base_name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise UsageError(f"Unknown variant {base_name!r}; known variants: {known}.") from None
    return with_axes(base, axes)


def _split_label(name: str) -> tuple[str, dict[str, str]]:
    name = name.strip()
    if "[" not in name:
        return name, {}
    if not name.endswith("]"):
        raise UsageError(f"Variant {name!r} must look like base[axis=value,...].")
    base, _, inner = name[:-1].partition("[")
    axes: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in inner.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key or not value:
            raise UsageError(f"Variant {name!r}: {part!r} is not axis=value.")
        axes[key.strip()] = value.strip()
    return base.strip(), axes


def split_names(text: str) -> list[str]:
    """Split on commas that are not inside ``[...]``."""
    names, depth, current = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            names.append(current.strip())
            current = ""
        else:
            current += ch
    names.append(current.strip())
    return [n for n in names if n]


def parse_list(text: str) -> tuple[VariantSpec, ...]:
    """``"django,fastapi"`` → specs, in order, without duplicates."""
    names = split_names(text)
    if not names:
        raise UsageError("--variants needs at least one variant name.")
    if len(set(names)) != len(names):
        raise UsageError(f"--variants lists a variant twice: {text!r}.")
    return tuple(get(n) for n in names)
