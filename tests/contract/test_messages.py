"""The success rows of the contract: health, create, read, history paging, delete."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from chatbench.provisioning import postgres
from tests.conftest import TEST_SEED
from tests.contract.api import (
    COLLECTION,
    KEYS,
    assert_message,
    create,
    describe,
    expect_404_json,
    expect_status,
    history,
    item,
    json_body,
    key_order,
    message,
    new_session,
    parse_timestamp,
    post_json,
)


def _seeded() -> dict[str, list[dict]]:
    """The template's rows as the API must show them, per session (ids 1..N in seed order)."""
    out: dict[str, list[dict]] = {}
    for i, (role, content, session_id, created) in enumerate(
        postgres.seed_rows(TEST_SEED), start=1
    ):
        stamp = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        row = {
            "id": i,
            "role": role,
            "content": content,
            "session_id": session_id,
            "created_at": stamp,
        }
        out.setdefault(session_id, []).append(row)
    return out


SEEDED = _seeded()


def _db_row(service, message_id: int) -> tuple | None:
    with psycopg.connect(service.database_url) as conn:
        return conn.execute(
            "SELECT role, content, session_id, created_at FROM chat_messages WHERE id = %s",
            (message_id,),
        ).fetchone()


def test_health(client: httpx.Client) -> None:
    resp = client.get("/health")
    expect_status(resp, 200)
    assert json_body(resp) == {"status": "ok"}


def test_create_returns_the_message(client: httpx.Client, service) -> None:
    session = new_session()
    before = datetime.now(UTC)
    resp = post_json(client, message(session, "first words", "assistant"))
    expect_status(resp, 201)
    body = json_body(resp)
    assert_message(body, raw=resp.content)
    assert list(resp.json().keys()) == KEYS
    assert body["role"] == "assistant"
    assert body["content"] == "first words"
    assert body["session_id"] == session
    created = parse_timestamp(body["created_at"])
    assert abs((created - before).total_seconds()) < 60, body["created_at"]
    # The row is in the service's database, and the API shows the stored timestamp.
    role, content, session_id, created_db = _db_row(service, body["id"])
    assert (role, content, session_id) == ("assistant", "first words", session)
    assert created_db.astimezone(UTC) == created


@pytest.mark.parametrize("role", ["user", "assistant", "system"])
def test_every_role_is_accepted(client: httpx.Client, role: str) -> None:
    assert create(client, new_session(), role=role)["role"] == role


def test_ids_are_new_and_ascending(client: httpx.Client) -> None:
    session = new_session()
    ids = [create(client, session, f"m{i}")["id"] for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert min(ids) > TEST_SEED.rows  # never reuses a seeded id


@pytest.mark.parametrize(
    "read_only",
    [
        {"id": 1, "created_at": "2000-01-01T00:00:00.000000Z"},  # id 1 exists: must not collide
        {"id": 999_999_999},
        {"id": "abc", "created_at": 12},  # ignored, so not even type-checked
        {"created_at": "not a date"},
    ],
    ids=["existing-id", "free-id", "wrong-types", "bad-date"],
)
def test_id_and_created_at_are_read_only(client: httpx.Client, read_only: dict) -> None:
    session = new_session()
    resp = post_json(client, message(session, "ro", **read_only))
    expect_status(resp, 201)
    body = json_body(resp)
    assert_message(body, raw=resp.content)
    assert body["id"] != read_only.get("id")
    assert body["id"] > TEST_SEED.rows
    assert not body["created_at"].startswith("2000-")
    assert abs((parse_timestamp(body["created_at"]) - datetime.now(UTC)).total_seconds()) < 60
    if read_only.get("id") == 999_999_999:
        expect_404_json(client.get(item(999_999_999)))


def test_unknown_keys_are_ignored(client: httpx.Client) -> None:
    session = new_session()
    extra = {"foo": "bar", "nested": {"a": [1, {"b": None}]}, "ROLE": "robot", "tokens": 12}
    resp = post_json(client, message(session, "with extras", **extra))
    expect_status(resp, 201)
    body = json_body(resp)
    assert_message(body, raw=resp.content)
    assert body["content"] == "with extras" and body["role"] == "user"


def test_get_by_id_equals_the_create_body(client: httpx.Client) -> None:
    session = new_session()
    created = post_json(client, message(session, "read me back", "system"))
    expect_status(created, 201)
    msg_id = created.json()["id"]
    got = client.get(item(msg_id))
    expect_status(got, 200)
    json_body(got)
    assert got.content == created.content, f"{got.content!r} != {created.content!r}"


def test_get_seeded_message(client: httpx.Client) -> None:
    resp = client.get(item(1))
    expect_status(resp, 200)
    body = json_body(resp)
    assert_message(body, raw=resp.content)
    assert body == SEEDED["seed-00000"][0]


def test_seeded_histories_are_served_exactly(client: httpx.Client) -> None:
    """All template rows: ids, content, and the stored timestamps formatted to the microsecond."""
    for session_id, expected in SEEDED.items():
        got = history(client, session_id)
        assert got == expected, f"{session_id}: {got} != {expected}"
    assert len(SEEDED) == TEST_SEED.sessions


def test_history_is_ascending_and_per_session(client: httpx.Client) -> None:
    session, other = new_session(), new_session()
    mine = []
    for i in range(4):
        mine.append(create(client, session, f"turn {i}", "user" if i % 2 == 0 else "assistant"))
        create(client, other, f"other {i}")
    got = history(client, session)
    assert got == mine
    ids = [m["id"] for m in got]
    assert ids == sorted(ids)
    assert all(m["session_id"] == session for m in got)
    # Exact match on session_id: a prefix is another session.
    assert history(client, session[:-1]) == []


def test_history_of_an_unknown_session_is_empty(client: httpx.Client) -> None:
    resp = client.get(COLLECTION, params={"session_id": new_session()})
    expect_status(resp, 200)
    assert json_body(resp) == []


def test_history_rows_equal_get_by_id(client: httpx.Client) -> None:
    session = new_session()
    m = create(client, session, "same bytes everywhere")
    listed = client.get(COLLECTION, params={"session_id": session})
    single = client.get(item(m["id"]))
    assert listed.content == b"[" + single.content + b"]", describe(listed)
    assert key_order(listed.content) == [KEYS]


def test_after_id_pages_a_seeded_session(client: httpx.Client) -> None:
    session_id = "seed-00003"
    full = history(client, session_id)
    assert [m["id"] for m in full] == [16, 17, 18, 19, 20]
    pages, after = [], 0
    for _ in range(10):
        page = history(client, session_id, limit=2, after_id=after)
        if not page:
            break
        assert len(page) <= 2
        assert all(m["id"] > after for m in page)
        pages.append([m["id"] for m in page])
        after = page[-1]["id"]
    assert pages == [[16, 17], [18, 19], [20]]
    union = [m for p in pages for m in p]
    assert union == [m["id"] for m in full]


def test_after_id_bounds(client: httpx.Client) -> None:
    full = history(client, "seed-00004")  # ids 21..25
    assert history(client, "seed-00004", after_id=0) == full
    assert history(client, "seed-00004", after_id=22) == full[2:]
    assert history(client, "seed-00004", after_id=25) == []
    assert history(client, "seed-00004", after_id=10**9) == []
    assert history(client, "seed-00004", after_id=20, limit=1) == full[:1]


def test_default_limit_is_50_and_200_is_allowed(client: httpx.Client) -> None:
    seeded = history(client, "seed-00007")  # fewer than the default: all of them
    assert len(seeded) == TEST_SEED.messages
    session = new_session()
    made = [create(client, session, f"n{i}")["id"] for i in range(55)]
    assert [m["id"] for m in history(client, session)] == made[:50]
    assert [m["id"] for m in history(client, session, limit=50)] == made[:50]
    assert [m["id"] for m in history(client, session, limit=200)] == made
    assert [m["id"] for m in history(client, session, limit=1)] == made[:1]
    assert [m["id"] for m in history(client, session, limit=51)] == made[:51]
    assert [m["id"] for m in history(client, session, after_id=made[49])] == made[50:]


def test_delete(client: httpx.Client, service) -> None:
    session = new_session()
    keep = create(client, session, "keep")
    gone = create(client, session, "delete me")
    resp = client.delete(item(gone["id"]))
    expect_status(resp, 204)
    assert resp.content == b"", describe(resp)
    expect_404_json(client.get(item(gone["id"])))
    expect_404_json(client.delete(item(gone["id"])))
    assert history(client, session) == [keep]
    assert _db_row(service, gone["id"]) is None
    assert _db_row(service, keep["id"]) is not None


def test_openapi_document_and_docs_page(client: httpx.Client) -> None:
    document = client.get("/openapi.json")
    expect_status(document, 200)
    paths = document.json()["paths"]  # drf-spectacular says application/vnd.oai.openapi+json
    assert {"/api/chat/messages", "/health"} <= set(paths)
    assert {"get", "post"} <= set(paths["/api/chat/messages"])
    assert any(p.startswith("/api/chat/messages/{") for p in paths), sorted(paths)
    docs = client.get("/docs")
    expect_status(docs, 200)
    assert docs.headers["content-type"].startswith("text/html"), describe(docs)
