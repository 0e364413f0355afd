"""Shared fixtures: one real Postgres per test session, real service processes per variant.

Tests start real things, as users do: the embedded cluster from the wheel (or the server in
``CHATBENCH_DATABASE_URL``), services through their command lines, Locust as a subprocess. At the end
of the session no process the suite started may remain (checked in ``pytest_sessionfinish``).
"""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from chatbench.configuration import variants
from chatbench.provisioning import ports, postgres
from chatbench.serving import servers

# Small but real seed: enough sessions/messages to page through, quick to build.
TEST_SEED = postgres.SeedSpec(sessions=20, messages=5, seed=7)

# Markers in a command line that identify a process this suite may have started.
_OUR_PROCESS_MARKERS = (
    "impl_django",
    "impl_fastapi",
    "locust",
    "chatbench-test-pg",
    "valkey-server",
    "py-spy",  # chatbench.serving.profiler.COMMAND_MARK
    "openmodel.mjs",  # the open-model generator (chatbench.load.openmodel)
)

# Every process this session starts inherits this variable (servers, Locust, Valkey, Postgres
# all get our environment), so the leftover check below blames only *this* session's processes:
# a benchmark or a second test session running on the same machine is not ours.
SESSION_TAG_VAR = "CHATBENCH_TEST_SESSION"
SESSION_TAG = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
os.environ[SESSION_TAG_VAR] = SESSION_TAG

# The Ctrl-C tests send SIGINT to a chatbench process. A shell without job control starts a
# background command with SIGINT ignored, an ignored signal stays ignored across exec, and
# Python then never raises KeyboardInterrupt: a suite started that way (`make test &` in a
# script) would see every Ctrl-C test hang. A handled signal resets to the default at exec, so
# installing Python's own handler here gives every child the normal disposition back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin URL of the Postgres server every test uses."""
    external = os.environ.get("CHATBENCH_DATABASE_URL")
    if external:
        yield external
        return
    base = tmp_path_factory.mktemp("chatbench-test-pg")
    with postgres.EmbeddedCluster.start(base / "cluster") as cluster:
        yield cluster.url


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> str:
    """The seeded template every variant database is cloned from."""
    return postgres.create_template(pg_server_url, TEST_SEED, name="chatbench_test_template")


@pytest.fixture(scope="session")
def clone_db(pg_server_url: str, template_db: str):
    """Factory: a fresh database cloned from the test template."""

    def make(name: str) -> str:
        return postgres.clone_database(pg_server_url, name, template="chatbench_test_template")

    return make


@pytest.fixture(scope="session")
def start_variant(clone_db, tmp_path_factory: pytest.TempPathFactory):
    """Factory: start a variant on its own cloned database; stopped at session end."""
    started: list[servers.RunningServer] = []
    logs = tmp_path_factory.mktemp("service-logs")

    def start(
        name: str, *, db_name: str | None = None, extra_env: dict | None = None
    ) -> servers.RunningServer:
        spec = variants.get(name)
        db = db_name or "t_" + db_suffix(name)
        url = clone_db(db)
        server = servers.start_server(
            spec,
            database_url=url,
            port=ports.free_port(),
            log_path=logs / f"{db}.log",
            extra_env=extra_env,
        )
        server.database_url = url  # type: ignore[attr-defined]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def db_suffix(variant: str) -> str:
    """A variant name as a database name's part: ``django[server=granian]`` → ``django_server_granian_``."""
    return re.sub(r"[^a-z0-9_]", "_", variant.lower())


def our_leftover_processes() -> list[str]:
    """Processes (other than ourselves) that this session started and that look like ours."""
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["pid"] == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(proc.info["cmdline"] or [])
            if "pytest" in cmd or not any(marker in cmd for marker in _OUR_PROCESS_MARKERS):
                continue
            if proc.environ().get(SESSION_TAG_VAR) != SESSION_TAG:
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        found.append(f"{proc.info['pid']}: {cmd[:160]}")
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any server, Postgres, Valkey or Locust process outlived the suite."""
    left = our_leftover_processes()
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("LEFTOVER PROCESSES after the test session:", red=True)
            for line in left:
                reporter.write_line("  " + line, red=True)
        session.exitstatus = 1


REPO_ROOT = Path(__file__).resolve().parent.parent
