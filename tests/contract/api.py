"""What the contract tests share: the paths, the message shape and assertion helpers.

The contract is DESIGN.md section 2; every helper here states one rule of it, and its
assertion message names the request, the status and the body so a failure reads as a
bug report (request → got vs expected).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

COLLECTION = "/api/chat/messages"
KEYS = ["id", "role", "content", "session_id", "created_at"]
ROLES = ("user", "assistant", "system")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
MAX_CONTENT = 32768
MAX_SESSION_ID = 64
MAX_BODY = 1024 * 1024


def item(message_id: object) -> str:
    return f"{COLLECTION}/{message_id}"


def new_session() -> str:
    """A session id no other test uses (tests share servers, never sessions)."""
    return f"ct-{uuid.uuid4().hex}"


def message(session_id: str, content: str = "hello", role: str = "user", **extra: Any) -> dict:
    return {"role": role, "content": content, "session_id": session_id, **extra}


def dumps(obj: Any) -> bytes:
    """JSON as a client would send it: UTF-8, non-ASCII unescaped."""
    return json.dumps(obj, ensure_ascii=False).encode()


def post_json(client: httpx.Client, body: Any, path: str = COLLECTION) -> httpx.Response:
    return client.post(path, content=dumps(body), headers={"Content-Type": "application/json"})


def post_raw(
    client: httpx.Client, content: bytes, content_type: str | None = "application/json"
) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return client.post(COLLECTION, content=content, headers=headers)


def describe(resp: httpx.Response) -> str:
    req = resp.request
    body = req.content if isinstance(req.stream, httpx.ByteStream) else b"<stream>"
    shown = body[:160] + (b"..." if len(body) > 160 else b"")
    return f"{req.method} {req.url.raw_path.decode()} {shown!r} → {resp.status_code} {resp.content[:300]!r}"


def expect_status(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, f"expected {status}: {describe(resp)}"


def content_type(resp: httpx.Response) -> str:
    return resp.headers.get("content-type", "").split(";")[0].strip().lower()


def json_body(resp: httpx.Response) -> Any:
    """The body as JSON, requiring the JSON media type."""
    assert content_type(resp) == "application/json", f"not application/json: {describe(resp)}"
    try:
        return json.loads(resp.content)
    except ValueError:
        raise AssertionError(f"body is not JSON: {describe(resp)}") from None


def key_order(raw: bytes) -> list[list[str]]:
    """Key order of every JSON object in ``raw``, as written in the bytes (duplicates kept)."""
    orders: list[list[str]] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict:
        orders.append([k for k, _ in pairs])
        return dict(pairs)

    json.loads(raw, object_pairs_hook=hook)
    return orders


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def assert_message(obj: Any, *, raw: bytes | None = None) -> None:
    """One ChatMessage: the five keys in order, with the contract's types and ranges."""
    assert isinstance(obj, dict), obj
    assert list(obj) == KEYS, f"keys/order {list(obj)} != {KEYS}"
    assert type(obj["id"]) is int and obj["id"] > 0, obj
    assert obj["role"] in ROLES, obj
    assert isinstance(obj["content"], str) and 1 <= len(obj["content"]) <= MAX_CONTENT
    assert isinstance(obj["session_id"], str) and 1 <= len(obj["session_id"]) <= MAX_SESSION_ID
    assert isinstance(obj["created_at"], str) and TIMESTAMP.match(obj["created_at"]), obj[
        "created_at"
    ]
    if raw is not None:
        assert key_order(raw) == [KEYS], f"raw key order {key_order(raw)}"


def create(
    client: httpx.Client, session_id: str, content: str = "hello", role: str = "user"
) -> dict:
    resp = post_json(client, message(session_id, content, role))
    expect_status(resp, 201)
    body = json_body(resp)
    assert_message(body)
    return body


def history(client: httpx.Client, session_id: str, **params: Any) -> list[dict]:
    resp = client.get(COLLECTION, params={"session_id": session_id, **params})
    expect_status(resp, 200)
    body = json_body(resp)
    assert isinstance(body, list), describe(resp)
    return body


def expect_422(resp: httpx.Response, field: str | None) -> None:
    """422 with a JSON ``detail``; with ``field``, some entry's ``loc`` ends with it."""
    expect_status(resp, 422)
    body = json_body(resp)
    assert isinstance(body, dict) and "detail" in body, f"no detail: {describe(resp)}"
    if field is None:
        return
    detail = body["detail"]
    assert isinstance(detail, list) and detail, f"detail is not a non-empty list: {describe(resp)}"
    locs = [e.get("loc") for e in detail if isinstance(e, dict)]
    assert any(isinstance(loc, list) and loc and loc[-1] == field for loc in locs), (
        f"no detail entry with loc[-1] == {field!r} (locs: {locs}): {describe(resp)}"
    )


def expect_404_json(resp: httpx.Response) -> None:
    expect_status(resp, 404)
    json_body(resp)


NOT_FOUND = {"detail": "Not Found"}
METHOD_NOT_ALLOWED = {"detail": "Method Not Allowed"}
TOO_LARGE = {"detail": "Request Entity Too Large"}


def expect_error_body(resp: httpx.Response, status: int, body: dict) -> None:
    """A non-422 error: this status and exactly this JSON body (the same on every variant)."""
    expect_status(resp, status)
    assert json_body(resp) == body, f"expected body {body}: {describe(resp)}"


def error_signature(resp: httpx.Response) -> list[tuple[str, list]]:
    """A 422 body reduced to what both services must agree on: each entry's ``type`` and ``loc``.

    Also checks the shape every entry must have: ``loc`` a non-empty list starting with
    "body"/"query", ``msg`` and ``type`` strings. (``msg`` wording and pydantic's ``input``/
    ``ctx`` extras are framework-specific and not compared.)
    """
    expect_status(resp, 422)
    body = json_body(resp)
    assert isinstance(body, dict) and list(body) == ["detail"], f"not {{detail}}: {describe(resp)}"
    detail = body["detail"]
    assert isinstance(detail, list) and detail, f"detail is not a non-empty list: {describe(resp)}"
    signature = []
    for entry in detail:
        assert isinstance(entry, dict), describe(resp)
        loc, msg, kind = entry.get("loc"), entry.get("msg"), entry.get("type")
        assert isinstance(loc, list) and loc and loc[0] in ("body", "query"), describe(resp)
        assert isinstance(msg, str) and msg and isinstance(kind, str) and kind, describe(resp)
        signature.append((kind, loc))
    return signature
