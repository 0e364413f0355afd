"""On a PostgreSQL server of the user's, chatbench drops only databases it created.

The "user's server" is an embedded cluster this test starts, holding a database of the user's
(``myapp``) and, for the refusal, one whose name chatbench would use (``cb_fastapi``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from chatbench import cli
from chatbench.provisioning import postgres

REPO_ROOT = Path(__file__).resolve().parents[2]
CHATBENCH = REPO_ROOT / ".venv" / "bin" / "chatbench"
SHORT = ["--profile", "smoke", "--warmup", "1", "--variants", "fastapi"]


@pytest.fixture(scope="module")
def users_server() -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="cbs-"))
    try:
        with postgres.EmbeddedCluster.start(base / "c") as cluster:
            with psycopg.connect(cluster.url, autocommit=True) as conn:
                conn.execute("CREATE DATABASE myapp")
            with psycopg.connect(postgres.with_database(cluster.url, "myapp")) as conn:
                conn.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
            yield cluster.url
    finally:
        shutil.rmtree(base, ignore_errors=True)


def databases(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate").fetchall()
    return {name for (name,) in rows} - {"postgres"}


def users_row(url: str) -> int:
    with psycopg.connect(postgres.with_database(url, "myapp")) as conn:
        return conn.execute("SELECT x FROM t").fetchone()[0]


def test_a_database_of_the_users_with_our_name_is_refused_not_dropped(
    users_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(users_server, autocommit=True) as conn:
        conn.execute("CREATE DATABASE cb_fastapi")
    try:
        rc = cli.main(["run", *SHORT, "--duration", "2", "--database-url", users_server,
                       "--out", str(tmp_path)])  # fmt: skip
        out, err = capsys.readouterr()
        assert rc != 0
        assert "'cb_fastapi' on 127.0.0.1:" in err and "was not created by chatbench" in err
        assert f"server at {postgres.server_place(users_server)}" in out
        # Its own template went on the way out; the user's two databases stayed.
        assert databases(users_server) == {"myapp", "cb_fastapi"}
        assert users_row(users_server) == 42
        assert postgres.drop_database(users_server, "cb_fastapi") is False
    finally:
        with psycopg.connect(users_server, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS cb_fastapi")


def test_the_users_database_survives_a_ctrl_c(users_server: str, tmp_path: Path) -> None:
    """CHATBENCH_DATABASE_URL names the server (DATABASE_URL, set too, is not read)."""
    env = {**os.environ, "CHATBENCH_DATABASE_URL": users_server,
           "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/elsewhere"}  # fmt: skip
    cmd = [str(CHATBENCH), "run", *SHORT, "--duration", "30", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if list(tmp_path.glob("*/raw/fastapi/rep-1/locust.log")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert "cb_fastapi" in databases(users_server)  # the run is using the user's server
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert f"server at {postgres.server_place(users_server)}" in out
    assert databases(users_server) == {"myapp"}
    assert users_row(users_server) == 42
