"""No request a client can send produces a 5xx: a bounded, seeded barrage on every variant.

Deterministic (``random.Random(SEED)``) and bounded (about 60 requests per variant), so a
failure reproduces exactly. Only the status is asserted: what each hostile request should get
is the business of test_errors; here the rule is "never the server's fault", and the service
must still answer /health afterwards.
"""

from __future__ import annotations

import json
import random
import socket
from urllib.parse import urlsplit

import httpx

from tests.contract.api import COLLECTION, item

SEED = 20261125
JSON = {"Content-Type": "application/json"}


def _hostile_requests(rng: random.Random) -> list[tuple[str, str, bytes | None, dict]]:
    """(method, path with query, body, headers): fixed nasties plus seeded random ones."""
    huge, neg = str(10**30), str(-(10**30))
    reqs: list[tuple[str, str, bytes | None, dict]] = []
    for raw_id in (
        huge,
        neg,
        "-1",
        "0",
        "1.0",
        "true",
        "null",
        "%00",
        "%ff%fe",
        "..%2F..%2Fetc",
        "1%2F2",
        "' OR 1=1",
        "%E2%80%AE1",
        str(2**63),
        str(2**64),
    ):
        reqs += [("GET", item(raw_id), None, {}), ("DELETE", item(raw_id), None, {})]
    for path in (
        "/api/chat/messages/../../../etc/passwd",
        "/api/chat/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f",
        "//api//chat//messages",
        "/api/chat/messages/%",
        "/%ff",
    ):
        reqs.append(("GET", path, None, {}))
    for params in (
        f"limit={huge}",
        f"limit={neg}",
        "limit=1.0e2",
        "limit=true",
        "limit[]=1",
        f"after_id={huge}",
        f"after_id={neg}",
        "after_id=NaN",
        "after_id=-0",
        "limit=%ff",
        "session_id[]=x",
        "limit=1&limit=2&limit=x",
    ):
        reqs.append(("GET", f"{COLLECTION}?session_id=s&{params}", None, {}))
    reqs.append(("GET", f"{COLLECTION}?session_id={'x' * 3000}&junk={'y' * 3000}", None, {}))
    reqs.append(("GET", f"{COLLECTION}?session_id=%ff%fe%00", None, {}))
    values = [
        10**30,
        -(10**30),
        2**63,
        -1,
        1.5,
        1e308,
        True,
        False,
        None,
        [],
        {},
        [1, [2]],
        {"a": {"b": {"c": []}}},
        "\ud800",
        "x" * 70000,
    ]
    for field in ("role", "content", "session_id", "id", "created_at"):
        for value in rng.sample(values, 5):
            body = {"role": "user", "content": "c", "session_id": "hostile", field: value}
            reqs.append(("POST", COLLECTION, json.dumps(body).encode(), JSON))
    bodies = [
        b"",
        b"{",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000,
        b"\xff\xfe\xfd",
        b'{"role": "user", "content": "\xc3\x28", "session_id": "s"}',
        b"1" * 5000,
        b'{"content": NaN, "role": Infinity}',
        b"\x00" * 64,
        rng.randbytes(256),
    ]
    for body in bodies:
        reqs.append(("POST", COLLECTION, body, JSON))
    for content_type in (
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/json; charset=utf-16",
        "application/json; charset=nope",
        "application/x-www-form-urlencoded",
        "*/*",
        ";;;",
    ):
        reqs.append(
            (
                "POST",
                COLLECTION,
                b'{"role":"user","content":"c","session_id":"s"}',
                {"Content-Type": content_type},
            )
        )
    for _ in range(8):  # random printable junk in path and query
        junk = "".join(rng.choice("abc019%/?&=.;-_~!$'()*+,") for _ in range(rng.randint(1, 40)))
        reqs.append((rng.choice(["GET", "DELETE", "POST"]), f"{COLLECTION}/{junk}", None, {}))
    return reqs  # fmt: skip


def _raw_status(base_url: str, request: bytes) -> int | None:
    """Send bytes no HTTP client would (invalid UTF-8 in the request line); the status, if any."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    fields = data.split(b" ", 2)
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


RAW_REQUESTS = [
    b"GET /api/chat/messages/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /api/chat/messages?session_id=\xc3\x28 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"POST /api/chat/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: -5\r\nConnection: close\r\n\r\n",
    b"POST /api/chat/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 99999999999999999999\r\nConnection: close\r\n\r\n{}",
]


def test_no_request_produces_a_server_error(service) -> None:
    requests = _hostile_requests(random.Random(SEED))
    assert 100 <= len(requests) <= 200  # bounded: a few hundred over all variants
    server_errors = []
    with httpx.Client(base_url=service.base_url, timeout=30.0, follow_redirects=False) as client:
        for method, path, body, headers in requests:
            resp = client.request(method, path, content=body, headers=headers)
            if resp.status_code >= 500:
                server_errors.append(f"{method} {path[:80]} {body!r:.80} → {resp.status_code}")
        for raw in RAW_REQUESTS:
            status = _raw_status(service.base_url, raw)
            if status is not None and status >= 500:
                server_errors.append(f"raw {raw[:60]!r} → {status}")
        assert not server_errors, "\n".join(server_errors)
        assert client.get("/health").status_code == 200
    service.check_alive()
