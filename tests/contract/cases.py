"""The error cases of the contract as data, shared by the per-variant and cross-variant tests.

Each case is one request and what the contract says about it. ``test_errors`` sends each to
every variant and checks the answer; ``test_equivalence`` sends them all to all variants and
checks that the answers agree with each other.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from tests.contract.api import COLLECTION, MAX_BODY, MAX_CONTENT, MAX_SESSION_ID, dumps, item

JSON = {"Content-Type": "application/json"}
SESSION = "ct-errors"  # never written: every case here is refused


@dataclasses.dataclass(frozen=True)
class Case:
    """One request; ``field`` is the field a 422 must name (None: the body as a whole)."""

    id: str
    method: str
    path: str
    status: int
    field: str | None = None
    error_type: str | None = None  # the pydantic error type both services use, when pinned
    content: bytes | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    params: dict[str, Any] | None = None

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(
            self.method, self.path, content=self.content, headers=self.headers, params=self.params
        )


def _body(**fields: Any) -> dict:
    return {"role": "user", "content": "hi", "session_id": SESSION, **fields}


def _without(key: str) -> dict:
    return {k: v for k, v in _body().items() if k != key}


def _post(case_id: str, body: Any, field: str | None, error_type: str | None = None) -> Case:
    raw = body if isinstance(body, bytes) else dumps(body)
    return Case(case_id, "POST", COLLECTION, 422, field, error_type, raw, JSON)


# Invalid bodies: each names the field at fault (None = the body as a whole).
BODY_422: list[Case] = [
    _post("malformed-json", b'{"role": "user",', None, "json_invalid"),
    _post("truncated-json", b'{"role": "us', None, "json_invalid"),
    _post("invalid-utf8", b'{"role": "user", "content": "\xff\xfe"}', None, "json_invalid"),
    _post("body-array", [_body()], None, "model_attributes_type"),
    _post("body-string", "hello", None, "model_attributes_type"),
    _post("body-number", 42, None, "model_attributes_type"),
    _post("body-null", None, None, "model_attributes_type"),
    _post("empty-body", b"", None, "missing"),
    _post("role-missing", _without("role"), "role", "missing"),
    _post("role-int", _body(role=5), "role", "literal_error"),
    _post("role-null", _body(role=None), "role", "literal_error"),
    _post("role-list", _body(role=["user"]), "role", "literal_error"),
    _post("role-robot", _body(role="robot"), "role", "literal_error"),
    _post("role-case", _body(role="User"), "role", "literal_error"),
    _post("role-padded", _body(role=" user"), "role", "literal_error"),
    _post("content-missing", _without("content"), "content", "missing"),
    _post("content-int", _body(content=5), "content", "string_type"),
    _post("content-bool", _body(content=True), "content", "string_type"),
    _post("content-null", _body(content=None), "content", "string_type"),
    _post("content-list", _body(content=["hi"]), "content", "string_type"),
    _post("content-object", _body(content={"text": "hi"}), "content", "string_type"),
    _post("content-empty", _body(content=""), "content", "string_too_short"),
    _post("content-too-long", _body(content="a" * (MAX_CONTENT + 1)), "content", "string_too_long"),
    _post("content-nul", _body(content="a\x00b"), "content", "string_nul"),
    _post("session-missing", _without("session_id"), "session_id", "missing"),
    _post("session-int", _body(session_id=7), "session_id", "string_type"),
    _post("session-null", _body(session_id=None), "session_id", "string_type"),
    _post("session-empty", _body(session_id=""), "session_id", "string_too_short"),
    _post(
        "session-too-long",
        _body(session_id="s" * (MAX_SESSION_ID + 1)),
        "session_id",
        "string_too_long",
    ),
    _post("nan-content", b'{"role":"user","content":NaN,"session_id":"x"}', "content"),
    Case("form-encoded", "POST", COLLECTION, 422, None, "model_attributes_type",
         b"role=user&content=hi&session_id=x", {"Content-Type": "application/x-www-form-urlencoded"}),
    Case("text-plain", "POST", COLLECTION, 422, None, "model_attributes_type",
         dumps(_body()), {"Content-Type": "text/plain"}),
]  # fmt: skip


def _history(case_id: str, field: str, error_type: str, **params: Any) -> Case:
    return Case(case_id, "GET", COLLECTION, 422, field, error_type, params=params)


# Invalid history queries.
QUERY_422: list[Case] = [
    _history("session-missing", "session_id", "missing"),
    _history("session-missing-with-limit", "session_id", "missing", limit=5),
    _history("session-empty", "session_id", "string_too_short", session_id=""),
    _history("session-too-long", "session_id", "string_too_long", session_id="s" * 65),
    _history("limit-0", "limit", "greater_than_equal", session_id=SESSION, limit=0),
    _history("limit-negative", "limit", "greater_than_equal", session_id=SESSION, limit=-1),
    _history("limit-201", "limit", "less_than_equal", session_id=SESSION, limit=201),
    _history("limit-huge", "limit", "less_than_equal", session_id=SESSION, limit=10**30),
    _history("limit-word", "limit", "int_parsing", session_id=SESSION, limit="ten"),
    _history("limit-float", "limit", "int_parsing", session_id=SESSION, limit="1.5"),
    _history("limit-empty", "limit", "int_parsing", session_id=SESSION, limit=""),
    _history("limit-bool", "limit", "int_parsing", session_id=SESSION, limit="true"),
    _history("limit-trailing-dot", "limit", "int_parsing", session_id=SESSION, limit="5."),
    _history("limit-arabic-digit", "limit", "int_parsing", session_id=SESSION, limit="٥"),
    _history("limit-underscore", "limit", "int_parsing", session_id=SESSION, limit="1_0"),
    _history("after-word", "after_id", "int_parsing", session_id=SESSION, after_id="abc"),
    _history("after-float", "after_id", "int_parsing", session_id=SESSION, after_id="2.5"),
    _history("after-exponent", "after_id", "int_parsing", session_id=SESSION, after_id="1e3"),
    _history("after-negative", "after_id", "greater_than_equal", session_id=SESSION, after_id=-1),
    _history("after-past-bigint", "after_id", "less_than_equal", session_id=SESSION,
             after_id=2**63),
]  # fmt: skip

MISSING_IDS = ["999999999", "9223372036854775807"]
# %0A: Starlette's route patterns end in $, which matches before a final newline.
NON_INTEGER_IDS = ["abc", "1.5", "-1", "0", "+1", "1e3", "%E2%91%A0", "9" * 30, "0x10"]
NON_INTEGER_IDS += ["%0A", "1%0A"]

NOT_FOUND_404: list[Case] = [
    Case(f"{method}-{kind}-{raw}"[:40], method, f"{COLLECTION}/{raw}", 404)
    for method in ("GET", "DELETE")
    for kind, ids in (("missing", MISSING_IDS), ("nonint", NON_INTEGER_IDS))
    for raw in ids
] + [
    Case("unknown-path", "GET", "/api/chat/nothing-here", 404),
    Case("collection-newline", "GET", COLLECTION + "%0A", 404),
    Case("nested-path", "GET", item(1) + "/extra", 404),
]

METHOD_405: list[Case] = [
    Case("put-item", "PUT", item(1), 405, content=dumps(_body()), headers=JSON),
    Case("patch-item", "PATCH", item(1), 405, content=dumps(_body()), headers=JSON),
    Case("post-item", "POST", item(1), 405, content=dumps(_body()), headers=JSON),
    Case("put-missing-item", "PUT", item(999999999), 405, content=b"{}", headers=JSON),
    Case("put-nonint-item", "PUT", item("abc"), 405, content=b"{}", headers=JSON),
    Case("delete-collection", "DELETE", COLLECTION, 405),
    Case("put-collection", "PUT", COLLECTION, 405, content=dumps(_body()), headers=JSON),
    Case("patch-collection", "PATCH", COLLECTION, 405, content=b"{}", headers=JSON),
    Case("post-health", "POST", "/health", 405, content=b"{}", headers=JSON),
]

OVERSIZED_413: list[Case] = [
    # Valid JSON just past the cap: refused for its size, before it is parsed.
    Case("json-over-1mib", "POST", COLLECTION, 413,
         content=dumps(_body(content="a" * MAX_BODY)), headers=JSON),
    Case("bytes-1mib-plus-1", "POST", COLLECTION, 413, content=b"x" * (MAX_BODY + 1), headers=JSON),
]  # fmt: skip

ALL_ERRORS: list[Case] = BODY_422 + QUERY_422 + NOT_FOUND_404 + METHOD_405 + OVERSIZED_413
