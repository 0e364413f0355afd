"""A quick contract check against a running service: the run's "is this the same API?" gate.

``chatbench run`` calls :func:`smoke_check` on every variant before loading it, so a broken
service fails the run before it produces misleading numbers. The full contract lives in
``tests/contract``; this is the short version any running service can be put through.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx

from chatbench.configuration.endpoints import COLLECTION
from chatbench.errors import ServerError

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
KEYS = ["id", "role", "content", "session_id", "created_at"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def smoke_check(base_url: str, *, timeout_s: float = 10.0) -> list[Check]:
    """Create, read, list, page, delete and a few errors; leaves the database as it found it."""
    session = f"verify-{uuid.uuid4().hex[:12]}"
    checks: list[Check] = []

    def check(name: str, ok: bool, detail: str = "") -> bool:
        checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    with httpx.Client(base_url=base_url, timeout=timeout_s) as client:
        try:
            health = client.get("/health")
            check(
                "GET /health → 200",
                health.status_code == 200 and health.json() == {"status": "ok"},
                f"{health.status_code} {health.text[:80]}",
            )
            body = {
                "role": "user",
                "content": "héllo ✓ 'quoted'; DROP TABLE x; --",
                "session_id": session,
            }
            created = client.post(COLLECTION, json=body)
            msg = created.json() if created.status_code == 201 else {}
            check(
                "POST → 201 with the contract's keys in order",
                created.status_code == 201 and list(msg) == KEYS,
                f"{created.status_code} {created.text[:120]}",
            )
            if msg:
                check(
                    "created_at is RFC 3339 UTC with microseconds",
                    bool(TIMESTAMP.match(str(msg.get("created_at")))),
                    str(msg.get("created_at")),
                )
                check("content stored verbatim", msg.get("content") == body["content"])
                got = client.get(f"{COLLECTION}/{msg['id']}")
                check(
                    "GET by id → 200, same body",
                    got.status_code == 200 and got.content == created.content,
                    f"{got.status_code}",
                )
                listed = client.get(COLLECTION, params={"session_id": session, "limit": 10})
                check(
                    "list → 200 with the message",
                    listed.status_code == 200 and listed.json() == [msg],
                    f"{listed.status_code} {listed.text[:120]}",
                )
                after = client.get(
                    COLLECTION, params={"session_id": session, "after_id": msg["id"]}
                )
                check(
                    "after_id pages past it",
                    after.status_code == 200 and after.json() == [],
                    after.text[:80],
                )
                deleted = client.delete(f"{COLLECTION}/{msg['id']}")
                check("DELETE → 204", deleted.status_code == 204, str(deleted.status_code))
                gone = client.get(f"{COLLECTION}/{msg['id']}")
                check("GET deleted → 404", gone.status_code == 404, str(gone.status_code))
            bad = client.post(
                COLLECTION, json={"role": "robot", "content": "x", "session_id": session}
            )
            check("role outside the enum → 422", bad.status_code == 422, str(bad.status_code))
            bad_limit = client.get(COLLECTION, params={"session_id": session, "limit": 0})
            check("limit=0 → 422", bad_limit.status_code == 422, str(bad_limit.status_code))
            missing = client.get(f"{COLLECTION}/abc")
            check("non-integer id → 404", missing.status_code == 404, str(missing.status_code))
        except (httpx.HTTPError, ValueError) as exc:
            check("service answered", False, f"{type(exc).__name__}: {exc}")
    return checks


def require(base_url: str, variant: str) -> list[Check]:
    """Run the smoke check and raise if anything failed."""
    checks = smoke_check(base_url)
    failed = [c for c in checks if not c.ok]
    if failed:
        lines = "\n".join(f"  ✗ {c.name}: {c.detail}" for c in failed)
        raise ServerError(
            f"The {variant} service failed {len(failed)} contract check(s) before load.",
            detail=lines,
        )
    return checks
