"""The error rows of the contract, on every variant: 422, 404, 405, 413, and the edges that
must NOT be errors (slashed paths, SQL-looking text, unicode, boundary values)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.contract.api import (
    COLLECTION,
    MAX_BODY,
    MAX_CONTENT,
    MAX_SESSION_ID,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    TOO_LARGE,
    assert_message,
    create,
    describe,
    dumps,
    error_signature,
    expect_422,
    expect_error_body,
    expect_status,
    history,
    item,
    json_body,
    message,
    new_session,
    post_json,
)
from tests.contract.cases import (
    BODY_422,
    JSON,
    METHOD_405,
    NOT_FOUND_404,
    OVERSIZED_413,
    QUERY_422,
    SESSION,
    Case,
)


def _check_422(resp: httpx.Response, case: Case) -> None:
    expect_422(resp, case.field)
    signature = error_signature(resp)
    location = "query" if case.method == "GET" else "body"
    assert all(loc[0] == location for _, loc in signature), describe(resp)
    if case.field is None:
        # The body as a whole: ["body"], or ["body", position] for a decode error.
        assert any(len(loc) == 1 or isinstance(loc[1], int) for _, loc in signature), describe(resp)
    if case.error_type is not None:
        assert any(kind == case.error_type for kind, _ in signature), (
            f"no {case.error_type!r} entry in {signature}: {describe(resp)}"
        )


def _each(cases: list[Case], check: Callable[[httpx.Response, Case], None], client) -> None:
    """Send every case and check it, reporting every case that fails (not just the first).

    One test per table and variant rather than one per case: a case is one request, and
    pytest's per-test cost would be most of the suite's time.
    """
    failures = []
    for case in cases:
        try:
            check(case.send(client), case)
        except AssertionError as exc:
            failures.append(f"[{case.id}] {exc}".splitlines()[0])
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures)


def test_invalid_bodies_are_422_naming_the_field(client: httpx.Client) -> None:
    _each(BODY_422, _check_422, client)


def test_invalid_queries_are_422_naming_the_parameter(client: httpx.Client) -> None:
    _each(QUERY_422, _check_422, client)


def test_each_invalid_field_is_reported(client: httpx.Client) -> None:
    """Three wrong fields, three entries (not just the first one found)."""
    resp = post_json(client, {"role": "robot", "content": "", "session_id": 5})
    fields = sorted(loc[-1] for _, loc in error_signature(resp))
    assert fields == ["content", "role", "session_id"], describe(resp)


def test_missing_and_non_integer_ids_are_404_json(client: httpx.Client) -> None:
    _each(NOT_FOUND_404, lambda resp, case: expect_error_body(resp, 404, NOT_FOUND), client)


def test_wrong_methods_are_405_json(client: httpx.Client) -> None:
    _each(METHOD_405, lambda resp, case: expect_error_body(resp, 405, METHOD_NOT_ALLOWED), client)


# What a 405's Allow header lists: every method the path answers, in the same order on both
# services (the methods the OpenAPI document lists for the path; schemathesis checks that too).
ALLOW = {COLLECTION: "GET, POST", item(1): "GET, DELETE", "/health": "GET"}


@pytest.mark.parametrize("slash", ["", "/"])
def test_405_allow_lists_every_method_of_the_path(client: httpx.Client, slash: str) -> None:
    for path, allow in ALLOW.items():
        for method in ("PUT", "PATCH", "OPTIONS"):
            resp = client.request(method, path + slash, content=b"{}", headers=JSON)
            expect_error_body(resp, 405, METHOD_NOT_ALLOWED)
            assert resp.headers.get("allow") == allow, (method, path + slash, resp.headers)


def test_bodies_over_1mib_are_413_json(client: httpx.Client) -> None:
    _each(OVERSIZED_413, lambda resp, case: expect_error_body(resp, 413, TOO_LARGE), client)
    # The connection stays usable and nothing was stored.
    expect_status(client.get("/health"), 200)
    assert history(client, SESSION) == []


def test_body_of_exactly_1mib_is_parsed(client: httpx.Client) -> None:
    """The cap is 'over 1 MiB': a body of exactly 1 MiB is read and accepted."""
    body = dumps(message(new_session(), "a"))
    pad = MAX_BODY - len(body)
    raw = body[:-1] + b', "pad": "' + b"p" * (pad - len(b', "pad": "') - 1) + b'"}'
    assert len(raw) == MAX_BODY
    resp = client.post(COLLECTION, content=raw, headers={"Content-Type": "application/json"})
    expect_status(resp, 201)  # the unknown key is ignored, whatever its size
    assert_message(json_body(resp))


def test_slashed_paths_answer_like_canonical_ones(client: httpx.Client) -> None:
    session = new_session()
    resp = post_json(client, message(session, "slashed"), path=COLLECTION + "/")
    expect_status(resp, 201)
    created = json_body(resp)
    canonical = client.get(item(created["id"]))
    slashed = client.get(item(created["id"]) + "/")
    expect_status(slashed, 200)
    assert slashed.content == canonical.content, describe(slashed)
    listed = client.get(COLLECTION + "/", params={"session_id": session})
    expect_status(listed, 200)
    assert listed.content == client.get(COLLECTION, params={"session_id": session}).content
    expect_422(client.get(COLLECTION + "/", params={"session_id": session, "limit": 0}), "limit")
    expect_error_body(client.put(item(created["id"]) + "/", content=b"{}"), 405, METHOD_NOT_ALLOWED)
    expect_error_body(client.get(item("abc") + "/"), 404, NOT_FOUND)
    expect_status(client.get("/health/"), 200)
    expect_status(client.delete(item(created["id"]) + "/"), 204)
    expect_error_body(client.delete(item(created["id"]) + "/"), 404, NOT_FOUND)


SQL_LOOKING = [
    "'; DROP TABLE chat_messages; --",
    "' OR '1'='1",
    "Robert'); DELETE FROM chat_messages WHERE ('1'='1",
    "%s %(x)s $1 ? :name \\x00 \\' \\\\ ; -- /* */",
    "SELECT pg_sleep(10);",
]


@pytest.mark.parametrize("text", SQL_LOOKING, ids=[f"sql{i}" for i in range(len(SQL_LOOKING))])
def test_sql_looking_strings_are_stored_verbatim(client: httpx.Client, text: str) -> None:
    session = new_session()[:40] + text[:20]  # also in the session id, and in the query string
    made = create(client, session, text)
    assert made["content"] == text and made["session_id"] == session
    assert json_body(client.get(item(made["id"]))) == made
    assert history(client, session) == [made]
    assert history(client, "seed-00001")[0]["id"] == 6  # the table is still there, unharmed


UNICODE = {
    "emoji": "👋🏽 hello 👨‍👩‍👧‍👦 🇳🇱",
    "cjk": "你好，世界。こんにちは 안녕하세요",
    "rtl": "\u200fשלום עולם مرحبا بالعالم\u200e",
    "combining": "e\u0301 a\u0308 \u0915\u094d\u0937",
    "controls": "tab\there\nnewline\r\x01\x1f\x7f\x85\u2028\u2029",
    "astral": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓂀 \U0010fffd",
    "escapes": '"quoted" \\backslash\\ /slash/ \ufeffbom',
}


@pytest.mark.parametrize("text", UNICODE.values(), ids=list(UNICODE))
def test_unicode_round_trips_exactly(client: httpx.Client, text: str) -> None:
    session = new_session()[:30] + text[:20]
    made = create(client, session, text)
    assert made["content"] == text and made["session_id"] == session
    got = client.get(item(made["id"]))
    assert json_body(got) == made
    assert history(client, session) == [made]
    # Non-ASCII letters are sent as raw UTF-8, not \u-escaped (as on every variant).
    for char in {c for c in text if ord(c) >= 0x100 and c not in "\u2028\u2029"}:
        assert char.encode() in got.content, f"{char!r} not raw UTF-8 in {got.content!r}"


def test_boundary_values_are_accepted(client: httpx.Client) -> None:
    longest = "a" * MAX_CONTENT
    session = "s" * (MAX_SESSION_ID - 32) + new_session()[-32:]
    assert len(session) == MAX_SESSION_ID
    made = create(client, session, longest, "system")
    assert made["content"] == longest and made["session_id"] == session
    # Lengths are characters, not bytes: 32768 four-byte characters and 64 CJK ones.
    wide = "😀" * MAX_CONTENT
    cjk_session = "会" * MAX_SESSION_ID
    wide_made = create(client, cjk_session, wide)
    assert wide_made["content"] == wide
    expect_422(post_json(client, message(cjk_session, wide + "😀")), "content")
    expect_422(post_json(client, message(cjk_session + "会", "x")), "session_id")
    created = [made] + [create(client, session, f"n{i}") for i in range(2)]
    assert history(client, session, limit=1) == created[:1]
    assert history(client, session, limit=200) == created
    assert history(client, session, limit="007") == created  # leading zeros are digits
    assert history(client, session, after_id=0) == created
    assert history(client, session, after_id=2**63 - 1) == []
    # Clean up the 32768-character rows other tests would page through.
    for m in (made, wide_made):
        expect_status(client.delete(item(m["id"])), 204)
