"""SQL work per request, read from Postgres's own ``pg_stat_statements``.

"Same database work" is measured, not assumed: the harness resets the statistics of one
variant's database, lets requests happen, and reads back which normalised statements ran, how
often, how many rows they touched and how long Postgres spent executing them. Per-endpoint
figures come from calling one endpoint alone a fixed number of times (``profile_endpoints``);
per-run figures come from the measured window. The tables built from them are
``chatbench.analysing.sqltable``'s.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import httpx

from chatbench.configuration.endpoints import COLLECTION, CREATE, DELETE, DETAIL, HISTORY
from chatbench.provisioning import postgres

ENDPOINT_CALLS = 20  # calls per endpoint in the per-endpoint profile


@dataclass(frozen=True)
class Statement:
    query: str
    calls: int
    rows: int
    exec_ms: float


def _dbid(conn, dbname: str) -> int:
    return conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (dbname,)).fetchone()[0]


def _dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def reset(database_url: str) -> None:
    """Forget the statistics of this one database (others are untouched)."""
    with postgres.connect(database_url) as conn:
        conn.execute(
            "SELECT pg_stat_statements_reset(0, %s, 0)", (_dbid(conn, _dbname(database_url)),)
        )


def read(database_url: str) -> list[Statement]:
    """Statements recorded for this database since the last reset, most-called first.

    The harness's own probes (this query, counts, checksums) are left out.
    """
    with postgres.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT query, calls, rows, total_exec_time FROM pg_stat_statements "
            "WHERE dbid = %s ORDER BY calls DESC, query",
            (_dbid(conn, _dbname(database_url)),),
        ).fetchall()
    return [
        Statement(" ".join(q.split()), int(c), int(r), float(t))
        for q, c, r, t in rows
        if not _is_harness(q)
    ]


def _is_harness(query: str) -> bool:
    q = query.lower()
    return (
        "pg_stat_statements" in q
        or "pg_database" in q
        or "pg_stat_activity" in q
        or q.startswith("select count(*) from chat_messages")
        or "md5(coalesce(string_agg" in q
    )


def per_request(
    statements: list[Statement],
    requests: int,
    *,
    endpoint_requests: dict[str, int] | None = None,
    profile: dict[str, dict] | None = None,
) -> dict:
    """Totals divided by the number of successful requests in the window.

    With ``endpoint_requests`` (successful requests per endpoint over the same window) and the
    per-endpoint ``profile``, the statements are also attributed to endpoints (``attribute``).
    """
    n = max(1, requests)
    calls = sum(s.calls for s in statements)
    out = {
        "requests": requests,
        "statements_per_request": calls / n,
        "rows_per_request": sum(s.rows for s in statements) / n,
        "db_exec_ms_per_request": sum(s.exec_ms for s in statements) / n,
        "statements": [asdict(s) for s in statements[:25]],
    }
    if endpoint_requests and profile:
        out["per_endpoint"] = attribute(statements, endpoint_requests, profile)
    return out


def attribute(
    statements: list[Statement], endpoint_requests: dict[str, int], profile: dict[str, dict]
) -> dict[str, dict]:
    """Split the load window's statements over endpoints, by what each endpoint runs alone.

    A statement text that only one endpoint's profile contains is that endpoint's; one that
    several run (e.g. an extra ``SELECT $1`` on every request) is split in proportion to how
    often each endpoint ran it in the window (requests × calls per request in the profile).
    Statements no profiled endpoint runs stay unattributed (they still count in the totals).
    """
    per_call: dict[str, dict[str, float]] = {
        ep: {s["query"]: s["calls"] / max(1, p.get("calls", 1)) for s in p.get("statements", [])}
        for ep, p in profile.items()
    }
    sums = {ep: {"calls": 0.0, "rows": 0.0, "exec_ms": 0.0} for ep in endpoint_requests}
    for s in statements:
        weights = {
            ep: endpoint_requests[ep] * per_call.get(ep, {}).get(s.query, 0.0)
            for ep in endpoint_requests
        }
        total = sum(weights.values())
        if total <= 0:
            continue
        for ep, w in weights.items():
            share = w / total
            sums[ep]["calls"] += s.calls * share
            sums[ep]["rows"] += s.rows * share
            sums[ep]["exec_ms"] += s.exec_ms * share
    return {
        ep: {
            "requests": endpoint_requests[ep],
            "statements_per_request": sums[ep]["calls"] / max(1, endpoint_requests[ep]),
            "rows_per_request": sums[ep]["rows"] / max(1, endpoint_requests[ep]),
            "db_exec_ms_per_request": sums[ep]["exec_ms"] / max(1, endpoint_requests[ep]),
        }
        for ep in endpoint_requests
    }


def profile_endpoints(
    base_url: str,
    database_url: str,
    *,
    calls: int = ENDPOINT_CALLS,
    seed_session: str = "seed-00000",
) -> dict[str, dict]:
    """Call each endpoint alone ``calls`` times and count what Postgres saw for it.

    Returns {endpoint label: {"statements_per_call", "rows_per_call", "db_exec_ms_per_call",
    "statements": [...]}}. Leaves the database with the rows it started with.
    """
    session = f"sqlprofile-{uuid.uuid4().hex[:10]}"
    out: dict[str, dict] = {}
    created: list[int] = []
    with httpx.Client(base_url=base_url, timeout=10) as client:

        def measure(label: str, do) -> None:
            reset(database_url)
            for i in range(calls):
                do(i)
            stmts = read(database_url)
            out[label] = {
                "calls": calls,
                "statements_per_call": sum(s.calls for s in stmts) / calls,
                "rows_per_call": sum(s.rows for s in stmts) / calls,
                "db_exec_ms_per_call": sum(s.exec_ms for s in stmts) / calls,
                "statements": [asdict(s) for s in stmts],
            }

        def post(i: int) -> None:
            r = client.post(
                COLLECTION, json={"role": "user", "content": f"m{i}", "session_id": session}
            )
            r.raise_for_status()
            created.append(r.json()["id"])

        measure(CREATE, post)
        measure(
            HISTORY,
            lambda i: client.get(
                COLLECTION, params={"session_id": seed_session, "limit": 50}
            ).raise_for_status(),
        )
        measure(
            DETAIL,
            lambda i: client.get(f"{COLLECTION}/{created[i % len(created)]}").raise_for_status(),
        )
        measure(
            DELETE,
            lambda i: client.delete(f"{COLLECTION}/{created[i]}").raise_for_status(),
        )
    return out


class ConnectionSampler:
    """Samples how many connections a database holds (``pg_stat_activity``) in a thread.

    ``samples`` counts the samples that succeeded and ``error`` keeps why sampling stopped
    early: a ``peak`` of 0 with 0 samples means "never seen", not "no connection held".
    """

    def __init__(self, server_url: str, dbname: str, interval_s: float = 0.25) -> None:
        self.server_url = server_url
        self.dbname = dbname
        self.interval_s = interval_s
        self.peak = 0
        self.samples = 0  # successful pg_stat_activity reads
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ConnectionSampler:
        self._thread = threading.Thread(target=self._loop, name=f"conns-{self.dbname}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.peak

    def _loop(self) -> None:
        try:
            with postgres.connect(self.server_url) as conn:
                while True:
                    n = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
                        (self.dbname,),
                    ).fetchone()[0]
                    self.peak = max(self.peak, int(n))
                    self.samples += 1
                    if self._stop.wait(self.interval_s):
                        return
        except Exception as exc:  # noqa: BLE001 - sampling must never break a run
            self.error = f"{type(exc).__name__}: {exc}".strip()
            return
