"""docker-compose.yml and the Dockerfiles, checked against the project without a Docker engine.

There is no Docker on the machines this suite runs on, so the deployment files are kept correct
by construction: each check below derives the truth from the code (the variants registry, the
settings the services actually read, the locustfile's options, the repo files) and compares the
compose file and Dockerfiles with it. A setting renamed in one place and not the other fails.
Each check returns a list of problems, so the checker itself is tested on a broken copy.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from chatbench.cli import seed as seed_cli
from chatbench.configuration import optionfile
from chatbench.configuration.variants import REGISTRY
from chatbench.load.locust import LoadSpec, locust_env
from chatbench.provisioning import ports, postgres

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICES = ("django", "fastapi")  # compose service name == registry variant name
LOCUST_SERVICES = ("locust-master", "locust-worker")
LOCUSTFILE = "loadtests/locustfile.py"
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


# -- reading the files ------------------------------------------------------------------------
def interpolate(value: object) -> object:
    """Compose's ``${NAME:-default}`` with nothing set in the environment: the defaults."""
    if isinstance(value, str):

        def default(match: re.Match[str]) -> str:
            if match.group(2) is None:
                raise AssertionError(f"{match.group(0)} has no default; compose must run as is")
            return match.group(2)

        return _VAR.sub(default, value).replace("$$", "$")
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def load_compose() -> dict:
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))


def raw_compose() -> dict:
    """The compose file as written: ``${NAME:-default}`` left in place."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def dockerfile_of(service: dict) -> Path:
    build = service["build"]
    return ROOT / build.get("context", ".") / build["dockerfile"]


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


# -- the truth, derived from the code ---------------------------------------------------------
def names_read_by_django() -> set[str]:
    """Every literal name impl_django passes to its env readers (impl_django/env.py)."""
    readers = {"env_str", "env_int", "env_choice", "getenv", "get"}
    names = set()
    for path in (ROOT / "impl_django").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in readers and isinstance(first, ast.Constant) and isinstance(first.value, str):
                if name == "get" and "environ" not in ast.unparse(func):
                    continue
                names.add(first.value)
    return names


def names_read_by_fastapi() -> set[str]:
    """The environment names of impl_fastapi.config.Settings: env_prefix + field, or its alias."""
    from impl_fastapi.config import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"{prefix}{field_name}".upper())
    return names


NAMES_READ = {"django": names_read_by_django, "fastapi": names_read_by_fastapi}


def locustfile_env_names() -> set[str]:
    """Environment variables the locustfile reads: its options' env_var= and os.environ.get."""
    names = set()
    for node in ast.walk(ast.parse((ROOT / LOCUSTFILE).read_text())):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "env_var" and isinstance(kw.value, ast.Constant):
                    names.add(kw.value.value)
            if "environ.get" in ast.unparse(node.func) and isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
    return names


# -- the checks: each returns the problems it finds -------------------------------------------
def env_name_problems(compose: dict) -> list[str]:
    problems = []
    for name in SERVICES:
        env = compose["services"][name]["environment"]
        read = NAMES_READ[name]()
        problems += [f"{name}: {key} is not read by the service" for key in env if key not in read]
        for required in ("DATABASE_URL", "CHATBENCH_HOST", "CHATBENCH_PORT"):
            if required not in env:
                problems.append(f"{name}: {required} is missing")
    for name in LOCUST_SERVICES:
        known = locustfile_env_names()
        for key in compose["services"][name].get("environment", {}):
            if key not in known:
                problems.append(f"{name}: {key} is not read by {LOCUSTFILE}")
    return problems


# LoadSpec field -> the `chatbench run` option that sets it.
RUN_OPTION_OF_LOAD = {
    "scenario": "scenario",
    "mode": "mode",
    "users": "users",
    "rate": "rate",
    "warmup_s": "warmup",
    "duration_s": "duration",
    "ramp_steps": "ramp_steps",
}


def locust_env_options() -> dict[str, str]:
    """Each Locust environment variable the harness sets from a run option, and that option:
    read off ``locust_env`` for a spec whose every field holds a value of its own."""
    spec = LoadSpec(
        target_url="http://127.0.0.1:1",
        scenario="write",
        mode="rate",
        users=11,
        rate=12.5,
        warmup_s=13.0,
        duration_s=14.0,
        ramp_steps=(15, 16),
    )
    env = locust_env(spec, Path("/nowhere"))
    shown = {
        "scenario": "write",
        "mode": "rate",
        "users": "11",
        "rate": "12.5",
        "warmup_s": "13",
        "duration_s": "14",
        "ramp_steps": "15,16",
    }
    found = {
        key: RUN_OPTION_OF_LOAD[f]
        for f, text in shown.items()
        for key, v in env.items()
        if v == text and key.startswith("CHATBENCH_")
    }
    assert len(found) == len(shown), found  # each field has one variable
    return found


def _variable(value: object) -> str | None:
    match = _VAR.fullmatch(str(value))
    return match.group(1) if match else None


def run_setting_problems(raw: dict) -> list[str]:
    """A setting `chatbench run` also has is read from the variable `chatbench run` reads
    (CHATBENCH_<OPTION>): one exported value drives both."""
    problems = []
    master = raw["services"]["locust-master"]
    for key, option in locust_env_options().items():
        want = optionfile.env_name(option)
        got = _variable(master["environment"].get(key))
        if got != want:
            problems.append(f"locust-master: {key} comes from {got}, not {want}")
    _, _, command = compare_command(master["command"])
    worker_count = {
        "--users": ("users", command[command.index("--users") + 1]),
        "--expect-workers": ("loadgen_processes", command[command.index("--expect-workers") + 1]),
        "replicas": ("loadgen_processes", raw["services"]["locust-worker"]["deploy"]["replicas"]),
    }
    for where, (option, value) in worker_count.items():
        if _variable(value) != optionfile.env_name(option):
            problems.append(
                f"{where} comes from {_variable(value)}, not {optionfile.env_name(option)}"
            )
    return problems


def registry_problems(compose: dict) -> list[str]:
    """Commands, settings and worker counts equal what the harness uses for each variant."""
    problems = []
    for name in SERVICES:
        service, spec = compose["services"][name], REGISTRY[name]
        env = service["environment"]
        if service["command"] != ["python", *spec.args]:
            problems.append(f"{name}: command {service['command']} is not the registry's")
        cpus = int(float(service["cpus"]))
        reference = spec.service_env(database_url="", port=0, cpus=cpus)
        for key in set(env) & set(reference) - {"DATABASE_URL", "CHATBENCH_HOST", "CHATBENCH_PORT"}:
            if str(env[key]) != reference[key]:
                problems.append(f"{name}: {key}={env[key]} but the harness uses {reference[key]}")
        if env.get("CHATBENCH_HOST") != "0.0.0.0":
            problems.append(f"{name}: must bind 0.0.0.0 inside the compose network")
    return problems


def normalize(distribution: str) -> str:
    """PEP 503 name: pip freeze writes tomli_w for the tomli-w in pyproject.toml."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def check(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


# -- tests ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


def test_services_and_images_are_pinned(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "seed", *SERVICES, *LOCUST_SERVICES}
    assert all(name in REGISTRY for name in SERVICES)
    for name, service in services.items():
        if "image" in service:
            repo, _, tag = service["image"].partition(":")
            assert tag and tag != "latest", f"{name}: image {service['image']} is not pinned"
        else:
            assert dockerfile_of(service).is_file(), f"{name}: no Dockerfile"
    assert dockerfile_of(services["django"]) == ROOT / "impl_django" / "Dockerfile"
    assert dockerfile_of(services["fastapi"]) == ROOT / "impl_fastapi" / "Dockerfile"


def test_service_env_names_are_the_ones_the_code_reads(compose: dict) -> None:
    # The derivation itself must find the documented names, or the check proves nothing.
    assert {"DATABASE_URL", "CHATBENCH_PORT", "CHATBENCH_DB_POOL"} <= names_read_by_django()
    assert {"DATABASE_URL", "CHATBENCH_PORT", "CHATBENCH_FASTAPI_ROUTES"} <= names_read_by_fastapi()
    assert {"CHATBENCH_SCENARIO", "CHATBENCH_REQUESTS_DIR"} <= locustfile_env_names()
    check(env_name_problems(compose))


def test_a_renamed_setting_fails_the_check(compose: dict) -> None:
    broken = copy.deepcopy(compose)
    env = broken["services"]["fastapi"]["environment"]
    env["CHATBENCH_DB_POOLING"] = env.pop("CHATBENCH_DB_POOL")
    assert env_name_problems(broken) == ["fastapi: CHATBENCH_DB_POOLING is not read by the service"]
    broken["services"]["django"]["command"][-1] = "impl_django.project.asgi:application"
    assert registry_problems(broken)


def test_run_settings_have_the_names_chatbench_run_reads() -> None:
    raw = raw_compose()
    check(run_setting_problems(raw))
    broken = copy.deepcopy(raw)
    broken["services"]["locust-master"]["environment"]["CHATBENCH_WARMUP_S"] = (
        "${CHATBENCH_WARMUP_S:-10}"
    )
    broken["services"]["locust-worker"]["deploy"]["replicas"] = "${CHATBENCH_LOCUST_WORKERS:-2}"
    assert run_setting_problems(broken) == [
        "locust-master: CHATBENCH_WARMUP_S comes from CHATBENCH_WARMUP_S, not CHATBENCH_WARMUP",
        "replicas comes from CHATBENCH_LOCUST_WORKERS, not CHATBENCH_LOADGEN_PROCESSES",
    ]


def test_commands_and_settings_equal_the_variants_registry(compose: dict) -> None:
    check(registry_problems(compose))
    for name in SERVICES:
        cmd = dict(dockerfile_instructions(dockerfile_of(compose["services"][name])))["CMD"]
        assert json.loads(cmd) == ["python", *REGISTRY[name].args], f"{name}: Dockerfile CMD"


def test_equal_cpu_limits_and_own_database_each(compose: dict) -> None:
    services = compose["services"]
    assert services["django"]["cpus"] == services["fastapi"]["cpus"]
    assert float(services["django"]["cpus"]) > 0
    databases = {}
    for name in SERVICES:
        url = urlsplit(services[name]["environment"]["DATABASE_URL"])
        assert (url.hostname, url.port) == ("postgres", 5432)
        databases[name] = url.path.lstrip("/")
    assert len(set(databases.values())) == 2, "each service needs its own database"
    seed = services["seed"]["command"]
    assert seed[:3] == ["python", "-m", "chatbench.cli.seed"]
    assert (ROOT / "chatbench" / "cli" / "seed.py").is_file()
    assert sorted(seed[i + 1] for i, a in enumerate(seed) if a == "--database") == sorted(
        databases.values()
    )


def test_ports_and_healthchecks(compose: dict) -> None:
    services = compose["services"]
    for name in SERVICES:
        service = services[name]
        port = service["environment"]["CHATBENCH_PORT"]
        published = [p.rsplit(":", 1) for p in service["ports"]]
        assert all(inner == str(port) for _, inner in published), f"{name}: container port"
        assert all(outer.startswith("127.0.0.1:") for outer, _ in published), "loopback only"
        probe = " ".join(service["healthcheck"]["test"])
        paths = re.findall(r"http://127\.0\.0\.1:(?:%s|\d+)(/[\w/]*)", probe)
        assert paths == [REGISTRY[name].health_path], f"{name}: healthcheck {probe}"
        assert "os.environ['CHATBENCH_PORT']" in probe or f":{port}/" in probe
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    for name, service in services.items():
        for mapping in service.get("ports", []):
            assert mapping.startswith("127.0.0.1:"), f"{name} publishes {mapping} beyond loopback"


def test_postgres_uses_the_repo_config_like_the_embedded_path(compose: dict) -> None:
    pg = compose["services"]["postgres"]
    major_minor = re.search(r"(\d+)\.(\d+)", postgres.server_version()).groups()
    tag = pg["image"].split(":")[1].split("-")[0].split(".")
    assert tuple(tag) == major_minor[: len(tag)], "image and embedded wheel differ in version"
    mounts = dict(v.split(":")[:2] for v in pg["volumes"])
    conf_target = mounts["./postgres/postgresql.conf"]
    assert (ROOT / "postgres/postgresql.conf").resolve() == postgres.POSTGRESQL_CONF
    init_scripts = [s for s, t in mounts.items() if t.startswith("/docker-entrypoint-initdb.d/")]
    assert init_scripts, "nothing includes postgresql.conf at initdb time"
    for script in init_scripts:
        text = (ROOT / script).read_text()
        assert f"include '{conf_target}'" in text and "$PGDATA/postgresql.conf" in text
    for source in mounts:
        assert (ROOT / source).is_file(), f"mounted {source} does not exist"


COMPARE_SCRIPT = "docker/locust-compare.sh"


def compare_command(cmd: list[str]) -> tuple[str, list[str], list[str]]:
    """A locust service's command: (mode, the script's own arguments, the Locust command)."""
    assert cmd[:2] == ["sh", COMPARE_SCRIPT], f"{cmd[:2]}: not the comparison loop"
    mode, rest = cmd[2], cmd[3:]
    split = rest.index("--")
    return mode, rest[:split], rest[split + 1 :]


def test_locust_master_and_workers(compose: dict) -> None:
    services = compose["services"]
    master_mode, master_args, master = compare_command(services["locust-master"]["command"])
    worker_mode, worker_args, worker = compare_command(services["locust-worker"]["command"])
    assert (master_mode, worker_mode) == ("master", "worker")
    for cmd in (master, worker):
        assert cmd[:3] == ["locust", "-f", LOCUSTFILE] and (ROOT / LOCUSTFILE).is_file()
        # The script sets these per target; a fixed value would aim both runs at one place.
        for option in ("--host", "--csv", "--json-file", "--html", "--master-port"):
            assert option not in cmd, f"{option} is the loop's to set"
        assert "--master-bind-port" not in cmd
    assert "--master" in master and "--headless" in master
    expected = master[master.index("--expect-workers") + 1]
    assert str(services["locust-worker"]["deploy"]["replicas"]) == expected
    assert worker[worker.index("--master-host") + 1] == "locust-master"
    # One `up` is one comparison: both services, django first, the same Locust command for
    # both, and the workers run once per target on the port that target's master binds.
    results, base_port, *targets = master_args
    names = [target.split("=", 1)[0] for target in targets]
    assert names == list(SERVICES), f"the comparison measures {names}"
    for target in targets:
        name, url = target.split("=", 1)
        url = urlsplit(url)
        assert url.hostname == name, f"{name} is measured at {url.hostname}"
        assert str(url.port) == services[name]["environment"]["CHATBENCH_PORT"]
    assert worker_args == [base_port, *names], "workers and masters disagree on targets/ports"
    for name in SERVICES:
        assert name in services["locust-master"]["depends_on"]
        assert services["locust-master"]["depends_on"][name]["condition"] == "service_healthy"
    # The data the load reads is the data the seed service wrote.
    locust_env, seed_env = services["locust-master"]["environment"], services["seed"]["environment"]
    for key in ("CHATBENCH_SEED_SESSIONS", "CHATBENCH_SEED_MESSAGES"):
        assert locust_env[key] == seed_env[key]
    # Locust's output goes under the results root the ./results mount provides.
    mounts = dict(v.split(":")[:2] for v in services["locust-master"]["volumes"])
    assert mounts["./results"] == results
    # The harness image carries the loop.
    copies = [
        a for w, a in dockerfile_instructions(ROOT / "docker/harness.Dockerfile") if w == "COPY"
    ]
    assert any(COMPARE_SCRIPT in a.split()[:-1] for a in copies), "the image lacks the script"


def test_compare_script_is_posix_sh() -> None:
    assert (ROOT / COMPARE_SCRIPT).is_file()
    subprocess.run(["sh", "-n", str(ROOT / COMPARE_SCRIPT)], check=True)
    bad = subprocess.run(["sh", str(ROOT / COMPARE_SCRIPT), "both"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown mode" in bad.stderr


def test_dockerfiles_install_the_pinned_runtime_dependencies(compose: dict) -> None:
    dockerfiles = {dockerfile_of(s) for s in compose["services"].values() if "build" in s}
    assert len(dockerfiles) == 3
    ignored = (ROOT / ".dockerignore").read_text().split()
    install_steps = set()
    for path in dockerfiles:
        steps = dockerfile_instructions(path)
        assert steps[0] == ("FROM", "python:3.11-slim"), path
        runs = [arg for word, arg in steps if word == "RUN"]
        install = next(r for r in runs if "pip install" in r)
        assert "-c /tmp/pins/requirements.lock" in install and "requirements.lock" in str(steps)
        install_steps.add(install)
        assert [w for w, _ in steps][-2:] in (["USER", "CMD"], ["EXPOSE", "CMD"]), path
        user = [a for w, a in steps if w == "USER"]
        assert user and user[-1] not in ("root", "0"), f"{path}: runs as root"
        for word, arg in steps:
            if word == "COPY":
                for source in arg.split()[:-1]:
                    assert (ROOT / source).exists(), f"{path}: COPY {source} is missing"
                    assert source.split("/")[0] not in ignored, f"{path}: {source} is ignored"
    assert len(install_steps) == 1, "every image installs the same pins the same way"
    runtime = subprocess.run(
        [
            sys.executable,
            str(ROOT / "docker/runtime_requirements.py"),
            str(ROOT / "pyproject.toml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "locust>=2.30" in runtime and not any(r.startswith(("pytest", "ruff")) for r in runtime)
    pinned = {
        normalize(line.split("==")[0]) for line in (ROOT / "requirements.lock").read_text().split()
    }
    names = {normalize(re.split(r"[\[<>=]", r)[0]) for r in runtime}
    assert names <= pinned, f"not pinned in requirements.lock: {names - pinned}"


# -- the seed entry point the compose file runs -----------------------------------------------
def test_seed_cli_clones_identical_databases(pg_server_url: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CHATBENCH_SEED_SESSIONS", "3")
    monkeypatch.setenv("CHATBENCH_SEED_MESSAGES", "4")
    names = ["compose_test_a", "compose_test_b"]
    argv = ["--database-url", pg_server_url, *(x for n in names for x in ("--database", n))]
    try:
        assert seed_cli.main(argv) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split(":")[0] for line in lines] == names
        assert all(" 12 rows" in line for line in lines)
        assert len({line.split("md5 ")[1] for line in lines}) == 1, "clones differ"
    finally:
        for name in [*names, postgres.TEMPLATE_DB]:
            postgres.drop_database(pg_server_url, name)


def test_seed_cli_bad_input_is_a_usage_error(monkeypatch, capsys) -> None:
    monkeypatch.delenv("CHATBENCH_DATABASE_URL", raising=False)
    assert seed_cli.main(["--database", "chatbench_x"]) == 2
    assert capsys.readouterr().err.startswith("error: Give the server's admin URL")
    assert seed_cli.main(["--database-url", "postgresql://x@h/p", "--database", "Bad-Name"]) == 2
    assert "not a usable database name" in capsys.readouterr().err
    monkeypatch.setenv("CHATBENCH_SEED_SESSIONS", "many")
    assert seed_cli.main(["--database-url", "postgresql://x@h/p", "--database", "db"]) == 2
    assert "CHATBENCH_SEED_SESSIONS must be a whole number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        seed_cli.main([])
    assert exc.value.code == 2


# -- the compose Locust command lines, run for real (no Docker: local processes) --------------
def _as_local(cmd: list[str], **replace: str) -> list[str]:
    """A compose command with some argument values replaced, `locust` run by this interpreter."""
    cmd = list(cmd)
    for option, value in replace.items():
        cmd[cmd.index(option) + 1] = value
    locust = cmd.index("locust")
    return [*cmd[:locust], sys.executable, "-m", "locust", *cmd[locust + 1 :]]


def _two_free_ports() -> int:
    """A port p with p and p + 1 free: the loop's masters bind base, base + 1."""
    while True:
        port = ports.free_port()
        if port < 65535 and not ports.port_in_use(port + 1):
            return port


def test_compose_locust_master_and_worker_commands_run(
    compose: dict, clone_db, tmp_path: Path
) -> None:
    """The compose master and worker loops, run for real as local processes: one comparison,
    both targets in order, the same workers, each target's output in its own folder."""
    from chatbench.serving import servers

    services = compose["services"]
    _, master_args, master_locust = compare_command(services["locust-master"]["command"])
    _, worker_args, worker_locust = compare_command(services["locust-worker"]["command"])
    assert [t.split("=")[0] for t in master_args[2:]] == worker_args[1:] == list(SERVICES)
    server = servers.start_server(
        REGISTRY["fastapi"],
        database_url=clone_db("t_compose_locust"),
        port=ports.free_port(),
        log_path=tmp_path / "fastapi.log",
        extra_env={"CHATBENCH_WORKERS": "1"},
    )
    base_port, results = str(_two_free_ports()), tmp_path / "results"
    script = ["sh", COMPARE_SCRIPT]
    # Both targets at the one loopback fastapi: this checks the loop, not the services.
    targets = [f"{name}={server.base_url}" for name in SERVICES]
    master_cmd = _as_local(
        [*script, "master", str(results), base_port, *targets, "--", *master_locust],
        **{"--expect-workers": "1", "--users": "2", "--spawn-rate": "2"},
    ) + ["--master-bind-host", "127.0.0.1"]
    worker_cmd = _as_local(
        [*script, "worker", base_port, *worker_args[1:], "--", *worker_locust],
        **{"--master-host": "127.0.0.1"},
    )
    env = {
        **os.environ,
        **services["locust-master"]["environment"],
        "CHATBENCH_WARMUP_S": "0",
        "CHATBENCH_MEASURE_S": "1",
        "CHATBENCH_SEED_SESSIONS": "20",  # the test template's seed (tests/conftest.py)
        "CHATBENCH_SEED_MESSAGES": "5",
    }
    procs: list[subprocess.Popen] = []
    log_path = tmp_path / "locust.log"
    try:
        with log_path.open("wb") as log:
            for cmd in (master_cmd, worker_cmd):
                procs.append(
                    subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
        assert procs[0].wait(timeout=120) == 0, log_path.read_text()[-3000:]
        # The worker loop ends after its last target's master: nothing is left running.
        assert procs[1].wait(timeout=20) == 0, log_path.read_text()[-3000:]
        (run_dir,) = results.iterdir()
        assert re.fullmatch(r"compose-\d{8}T\d{6}Z", run_dir.name)
        assert sorted(p.name for p in run_dir.iterdir()) == sorted(SERVICES)
        for name in SERVICES:
            out = run_dir / name / "locust"
            stats = json.loads(Path(f"{out}.json").read_text())
            by_name = {s["name"]: s["num_requests"] for s in stats}
            assert by_name.get("POST /api/chat/messages", 0) > 0, (name, by_name)
            for suffix in ("_stats.csv", "_stats_history.csv", ".html"):
                assert Path(f"{out}{suffix}").is_file(), f"{name}: no locust{suffix}"
        log = log_path.read_text()
        order = [log.index(f"chatbench: measuring {name} ") for name in SERVICES]
        assert order == sorted(order), "django is measured first"
        assert log.count("Got quit message from master") == len(SERVICES), log[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        server.stop()
