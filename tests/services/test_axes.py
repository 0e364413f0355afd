"""The pool axis takes effect on both services, shown by what PostgreSQL itself reports.

Every service here runs one worker with a cap of 4 connections, on its own cloned database, so
``pg_stat_activity`` (connections open now) and ``pg_stat_database.sessions`` (connections ever
opened) count that service alone:

- ``none``: a connection per request: sessions grow with requests, none stays open after;
- ``persistent``: connections are kept: few sessions for many requests, at least one stays open;
- ``pool``: a pool of exactly the cap, opened and kept: 4 connections stay open.

Under ASGI Django cannot keep per-thread connections, so there ``persistent`` is the pool
(settings.py says why). The server and workers axes are checked from the OS side: the
process tree, the ``Server`` header and whether the connection is kept alive.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from chatbench.provisioning import postgres
from chatbench.provisioning.processes import process_tree

CAP = 4
REQUESTS = 12
ENV = {"CHATBENCH_WORKERS": "1", "CHATBENCH_DB_MAX_CONNECTIONS": str(CAP)}


def _counts(server_url: str, db: str) -> tuple[int, int]:
    """(connections open now, sessions ever opened) for database ``db``."""
    with postgres.connect(server_url) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        open_now = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (db,),
        ).fetchone()[0]
        sessions = conn.execute(
            "SELECT coalesce(sessions, 0) FROM pg_stat_database WHERE datname = %s", (db,)
        ).fetchone()[0]
    return int(open_now), int(sessions)


def _poll(server_url: str, db: str, ok, timeout_s: float = 10.0) -> tuple[int, int]:
    """Poll the counts until ``ok(open_now, sessions)`` or the deadline; return the last."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = _counts(server_url, db)
        if ok(*counts) or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def _load(base_url: str) -> None:
    """REQUESTS reads, 4 at a time, each one touching the database."""
    with httpx.Client(base_url=base_url, timeout=20) as client:

        def one(i: int) -> None:
            r = client.get("/api/chat/messages", params={"session_id": f"seed-{i % 20:05d}"})
            assert r.status_code == 200

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(REQUESTS)))


@pytest.mark.parametrize("base", ["django", "django-async", "fastapi"])
@pytest.mark.parametrize("pool", ["none", "persistent", "pool"])
def test_pool_axis_seen_by_postgres(start_variant, pg_server_url: str, base: str, pool: str):
    db = f"t_axes_{base.replace('-', '_')}_{pool}"
    server = start_variant(f"{base}[pool={pool}]", db_name=db, extra_env=ENV)
    try:
        _, sessions_before = _counts(pg_server_url, db)
        _load(server.base_url)
        if pool == "none":
            open_now, sessions = _poll(pg_server_url, db, lambda o, s: o == 0)
            assert open_now == 0, "pool=none left connections open after the requests"
            assert sessions - sessions_before >= REQUESTS, "pool=none reused connections"
        elif pool == "persistent":
            open_now, sessions = _poll(pg_server_url, db, lambda o, s: o >= 1)
            assert 1 <= open_now <= CAP
            assert sessions - sessions_before < REQUESTS / 2, "persistent reconnected per request"
        else:
            open_now, sessions = _poll(pg_server_url, db, lambda o, s: o == CAP)
            assert open_now == CAP, f"pool should hold exactly the cap ({CAP}), holds {open_now}"
            assert sessions - sessions_before <= CAP
        # The cap holds in every mode.
        assert open_now <= CAP
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("label", "server_header", "processes", "keep_alive"),
    [
        ("django[server=sync,workers=2]", "gunicorn", 3, False),  # arbiter + 2 sync workers
        ("django[server=asgi,workers=1]", "uvicorn", 1, True),  # one worker: no supervisor
        ("fastapi[workers=2]", "uvicorn", 3, True),  # supervisor + 2 workers
        # The same server under both frameworks: granian's main process + its workers.
        ("django[server=granian,workers=2]", "granian", 3, True),  # WSGI
        ("fastapi[server=granian,workers=1]", "granian", 2, True),  # ASGI
    ],
)
def test_server_and_workers_axes_seen_by_the_os(
    start_variant, label: str, server_header: str, processes: int, keep_alive: bool
) -> None:

    db = "t_axes_" + "".join(c if c.isalnum() else "_" for c in label)
    server = start_variant(label, db_name=db)
    try:
        with httpx.Client(base_url=server.base_url, timeout=20) as client:
            r = client.get("/health")
        assert r.status_code == 200
        assert r.headers.get("server", "").lower().startswith(server_header)
        assert (r.headers.get("connection", "").lower() != "close") == keep_alive

        def serving() -> int:  # uvicorn's multiprocessing also starts a resource tracker
            tree = process_tree(server.pid)
            return sum("resource_tracker" not in " ".join(p.cmdline()) for p in tree)

        deadline = time.monotonic() + 10
        while serving() < processes and time.monotonic() < deadline:
            time.sleep(0.1)
        assert serving() == processes
    finally:
        server.stop()
