"""A tiny in-process ChatMessage service for the load generators' tests.

A stdlib ThreadingHTTPServer on 127.0.0.1 that speaks just enough of the API (POST, history,
detail) and records what it served, so every figure a load generator reports can be checked
against what the server actually saw. ``delay_s`` slows every request; ``stall_every`` and
``stall_s`` stall the whole server, as a garbage collection stalls a one-process service:
every ``stall_every``-th request holds a gate for ``stall_s`` that every request passes before
it is answered, so the requests arriving meanwhile queue behind it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CREATE = "POST /api/chat/messages"
HISTORY = "GET /api/chat/messages"
DETAIL = "GET /api/chat/messages/{id}"


class Target:
    """In-memory ChatMessage service on 127.0.0.1; records every request as it arrived (client
    address, method, path, body), (time, endpoint, status) of every reply, the raw body of every
    POST, the query of every history read, the id of every
    single-row read and the client address of every connection."""

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        seed_sessions: int = 3,
        seed_messages: int = 4,
        stall_every: int = 0,
        stall_s: float = 0.0,
    ):
        self.delay_s = delay_s
        self.stall_every = stall_every
        self.stall_s = stall_s
        self.lock = threading.Lock()
        self.gate = threading.Lock()
        self.received = 0
        self.stalls: list[float] = []  # when each stall began (epoch s)
        self.rows: list[dict] = []
        self.served: list[tuple[float, str, int]] = []
        self.bodies: list[bytes] = []
        self.queries: list[dict[str, list[str]]] = []
        self.details: list[int] = []  # the ids read one by one, in order of arrival
        self.peers: set[tuple[str, int]] = set()  # client addresses: one per connection
        # Every request as it arrived: (client address, method, path with query, body).
        self.requests: list[tuple[tuple[str, int], str, str, bytes]] = []
        for s in range(seed_sessions):
            for _ in range(seed_messages):
                self._insert({"role": "user", "content": "seed", "session_id": f"seed-{s:05d}"})
        self.seeded = len(self.rows)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _insert(self, body: dict) -> dict:
        row = {
            "id": len(self.rows) + 1,
            "role": body["role"],
            "content": body["content"],
            "session_id": body["session_id"],
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        self.rows.append(row)
        return row

    def _pass_the_gate(self) -> None:
        """Wait for a stall in progress; the stall_every-th request makes one."""
        with self.lock:
            self.received += 1
            stall = self.stall_every and self.received % self.stall_every == 0
        with self.gate:
            if stall:
                self.stalls.append(time.time())
                time.sleep(self.stall_s)
        if self.delay_s:
            time.sleep(self.delay_s)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real services

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes: without this, Nagle + delayed ACK
                # add ~40 ms to every response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, payload: object, label: str) -> None:
                with target.lock:
                    target.peers.add(self.client_address)
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with target.lock:
                    target.served.append((time.time(), label, status))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with target.lock:
                    target.requests.append((self.client_address, "POST", self.path, raw))
                target._pass_the_gate()
                body = json.loads(raw)
                with target.lock:
                    target.bodies.append(raw)
                    row = target._insert(body)
                self._reply(201, row, CREATE)

            def do_GET(self) -> None:
                with target.lock:
                    target.requests.append((self.client_address, "GET", self.path, b""))
                target._pass_the_gate()
                parts = urlsplit(self.path)
                if parts.path == "/api/chat/messages":
                    q = parse_qs(parts.query)
                    sid, after = q["session_id"][0], int(q.get("after_id", ["0"])[0])
                    limit = int(q.get("limit", ["50"])[0])
                    with target.lock:
                        target.queries.append(q)
                        rows = [
                            r for r in target.rows if r["session_id"] == sid and r["id"] > after
                        ]
                    self._reply(200, rows[:limit], HISTORY)
                    return
                message_id = int(parts.path.rsplit("/", 1)[1])
                with target.lock:
                    target.details.append(message_id)
                    found = 0 < message_id <= len(target.rows)
                    row = target.rows[message_id - 1] if found else {"detail": "not found"}
                self._reply(200 if found else 404, row, DETAIL)

        return Handler

    def __enter__(self) -> Target:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def created(self) -> int:
        return len(self.rows) - self.seeded

    def arrival_gaps(self, start: float, end: float) -> list[float]:
        """Seconds between the replies in [start, end) (epoch s): the target answers at once
        (no ``delay_s``), so between the requests' arrivals."""
        times = sorted(t for t, _, _ in self.served if start <= t < end)
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    def counts(self, start: float = 0.0, end: float = float("inf")) -> Counter:
        with self.lock:
            return Counter(label for t, label, _ in self.served if start <= t < end)
