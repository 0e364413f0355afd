"""chatbench.configuration.variants: the registry, worker formula, environment and --variants parsing."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from chatbench.configuration import variants
from chatbench.configuration.variants import REGISTRY, VariantSpec
from chatbench.errors import UsageError

# Every name the services read (docs/interfaces.md); the harness must always set these.
SERVICE_ENV_NAMES = {
    "DATABASE_URL",
    "CHATBENCH_HOST",
    "CHATBENCH_PORT",
    "CHATBENCH_WORKERS",
    "CHATBENCH_THREADS",
    "CHATBENCH_SERVER",
    "CHATBENCH_DB_MAX_CONNECTIONS",
    "CHATBENCH_DB_POOL",
}


def _modules_named(spec: VariantSpec) -> list[str]:
    """Every Python module a variant's command line refers to."""
    args = list(spec.args)
    modules = []
    for i, arg in enumerate(args):
        if arg == "-m":
            modules.append(args[i + 1])
        elif arg.startswith("python:"):  # gunicorn's "--config python:module"
            modules.append(arg.removeprefix("python:"))
        elif ":" in arg and not arg.startswith("-"):  # a WSGI/ASGI "module:attribute"
            modules.append(arg.split(":", 1)[0])
    return modules


def test_registry_has_the_design_variants() -> None:
    assert {"django", "fastapi", "fastapi-sync", "fastapi-seed"} <= set(REGISTRY)
    assert set(variants.DEFAULT_VARIANTS) <= set(REGISTRY)
    for name, spec in REGISTRY.items():
        assert spec.name == name
        assert spec.framework in ("django", "fastapi")
        assert spec.description
        assert spec.health_path == "/health"


@pytest.mark.parametrize("name", list(REGISTRY))
def test_command_names_existing_modules(name: str) -> None:
    spec = REGISTRY[name]
    command = spec.command()
    assert command[0] == sys.executable
    modules = _modules_named(spec)
    assert modules, f"{name}: no module found in {command}"
    for module in modules:
        assert module.split(".")[0] == f"impl_{spec.framework}" or module == "gunicorn", module
        assert importlib.util.find_spec(module) is not None, f"{name}: module {module} is missing"


@pytest.mark.parametrize(
    ("server", "cpus", "workers", "threads"),
    [
        ("gthread", 1, 3, 2),
        ("gthread", 2, 5, 2),
        ("gthread", 4, 9, 2),
        ("sync", 2, 5, 1),
        ("uvicorn", 1, 1, 1),
        ("uvicorn", 2, 2, 1),
        ("uvicorn", 8, 8, 1),
        ("asgi", 3, 3, 1),
        ("gthread", 0, 3, 2),  # nonsense budgets count as one CPU
        ("uvicorn", -1, 1, 1),
    ],
)
def test_worker_formula(server: str, cpus: int, workers: int, threads: int) -> None:
    spec = VariantSpec(
        name="x", framework="django", server=server, description="x", args=("-m", "x")
    )
    assert spec.workers_for(cpus) == workers
    assert spec.threads_for() == threads


def test_registry_worker_counts_follow_the_server_docs() -> None:
    assert REGISTRY["django"].workers_for(2) == 5
    for name in ("fastapi", "fastapi-sync", "fastapi-seed"):
        assert REGISTRY[name].workers_for(2) == 2


@pytest.mark.parametrize(
    ("name", "cpus", "cap", "workers"),
    [
        ("django", 2, 10, 5),  # 5 workers × 2 threads = 10: within the cap as it is
        ("django", 3, 10, 5),  # 7 × 2 = 14 would exceed 10: capped to 5
        ("django", 3, 20, 7),  # a larger cap leaves gunicorn's formula alone
        ("django", 8, 1, 1),  # never fewer than one worker
        ("fastapi", 12, 10, 10),  # one connection-holding process per worker, capped too
    ],
)  # fmt: skip
def test_workers_never_hold_more_connections_than_the_cap(name, cpus, cap, workers) -> None:
    env = REGISTRY[name].service_env(
        database_url="postgresql://u@127.0.0.1:5/db", port=1, cpus=cpus, db_max_connections=cap
    )
    assert int(env["CHATBENCH_WORKERS"]) == workers
    if cap >= int(env["CHATBENCH_THREADS"]):
        assert workers * int(env["CHATBENCH_THREADS"]) <= cap


def test_service_env_has_every_interface_name() -> None:
    spec = REGISTRY["fastapi-sync"]
    env = spec.service_env(database_url="postgresql://u@127.0.0.1:5/db", port=8123, cpus=2)
    assert set(env) >= SERVICE_ENV_NAMES
    assert env["DATABASE_URL"] == "postgresql://u@127.0.0.1:5/db"
    assert env["CHATBENCH_PORT"] == "8123"
    assert env["CHATBENCH_HOST"] == "127.0.0.1"
    assert env["CHATBENCH_WORKERS"] == "2"
    assert env["CHATBENCH_SERVER"] == "uvicorn"
    assert env["CHATBENCH_DB_MAX_CONNECTIONS"] == str(variants.DEFAULT_DB_MAX_CONNECTIONS)
    assert env["CHATBENCH_FASTAPI_ROUTES"] == "sync"
    assert all(isinstance(v, str) for v in env.values())


def test_service_env_route_styles_and_overrides() -> None:
    styles = {n: REGISTRY[n].env.get("CHATBENCH_FASTAPI_ROUTES") for n in REGISTRY}
    assert styles["fastapi"] == "async"
    assert styles["fastapi-sync"] == "sync"
    assert styles["fastapi-seed"] == "seed"
    assert styles["django"] is None
    env = REGISTRY["django"].service_env(
        database_url="postgresql://u@h/db",
        port=1,
        cpus=1,
        db_max_connections=4,
        extra={"CHATBENCH_WORKERS": "7", "CHATBENCH_BURN_US": "10"},
    )
    assert env["CHATBENCH_WORKERS"] == "7"  # extra wins over the formula
    assert env["CHATBENCH_BURN_US"] == "10"
    assert env["CHATBENCH_DB_MAX_CONNECTIONS"] == "4"
    assert env["CHATBENCH_THREADS"] == "2"


def test_get_unknown_variant_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        variants.get("flask")
    assert "flask" in str(info.value)
    assert "django" in str(info.value)  # names the known variants
    assert info.value.exit_code == 2


def test_parse_list_keeps_order_and_trims() -> None:
    specs = variants.parse_list(" fastapi-seed, django ,fastapi")
    assert [s.name for s in specs] == ["fastapi-seed", "django", "fastapi"]


@pytest.mark.parametrize(
    "text", ["", " ", ",", " , ,", "django,django", "django, fastapi,django", "nope", "django,nope"]
)
def test_parse_list_errors_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        variants.parse_list(text)


def test_django_view_modes_are_selected_by_the_environment() -> None:
    views = {n: REGISTRY[n].env.get("CHATBENCH_DJANGO_VIEWS") for n in REGISTRY}
    assert views["django-async"] == "async"
    assert views["django"] is None  # the service's default: sync views
    env = variants.get("django-async[pool=none]").service_env(
        database_url="postgresql://u@h/db", port=1, cpus=1
    )
    assert env["CHATBENCH_DJANGO_VIEWS"] == "async"
    assert env["CHATBENCH_SERVER"] == "asgi"


@pytest.mark.parametrize("server", ["gthread", "sync"])
def test_async_views_need_the_asgi_server(server: str) -> None:
    with pytest.raises(UsageError) as info:
        variants.get(f"django-async[server={server}]")
    assert "server=asgi" in str(info.value)
    assert info.value.exit_code == 2
    assert variants.get("django-async[server=asgi]").server == "asgi"


def test_server_granian_is_one_axis_value_on_both_frameworks() -> None:
    wsgi = variants.get("django[server=granian]")
    assert wsgi.args == variants.DJANGO_GRANIAN and wsgi.server == "granian"
    assert (wsgi.workers_for(2), wsgi.threads_for()) == (2, variants.GTHREAD_THREADS)
    asgi = variants.get("django-async[server=granian]")
    assert asgi.args == variants.DJANGO_GRANIAN and asgi.threads_for() == 1
    fastapi = variants.get("fastapi[server=granian]")
    assert fastapi.args == REGISTRY["fastapi"].args  # the service picks granian itself
    env = fastapi.service_env(database_url="postgresql://x@h/d", port=1, cpus=2)
    assert env["CHATBENCH_SERVER"] == "granian" and env["CHATBENCH_WORKERS"] == "2"
    with pytest.raises(UsageError, match="need server=asgi or server=granian"):
        variants.get("django-async[server=gthread]")


@pytest.mark.parametrize("base", ["django", "fastapi"])
@pytest.mark.parametrize("value", ["default", "freeze", "threshold"])
def test_the_gc_axis_sets_chatbench_gc_on_both_frameworks(base: str, value: str) -> None:
    spec = variants.get(f"{base}[gc={value}]")
    assert spec.axes == {"gc": value}
    assert spec.args == REGISTRY[base].args  # the service applies it itself
    env = spec.service_env(database_url="postgresql://x@h/d", port=1, cpus=1)
    assert env["CHATBENCH_GC"] == value
    assert "CHATBENCH_GC" not in REGISTRY[base].service_env(
        database_url="postgresql://x@h/d", port=1, cpus=1
    )


@pytest.mark.parametrize("value", ["off", "Freeze", "700"])
def test_a_gc_value_the_services_do_not_know_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match=f"Axis gc has no value '{value}' for django"):
        variants.get(f"django[gc={value}]")
