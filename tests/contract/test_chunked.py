"""A body sent with ``Transfer-Encoding: chunked`` gets the answer the same body gets with a
``Content-Length``, on every variant and every server that runs one.

Node's ``http``, Go's client with an unknown length and ``curl -H 'Transfer-Encoding: chunked'``
send bodies this way. gunicorn hands Django such a body with no ``CONTENT_LENGTH`` (and
``wsgi.input_terminated``), where Django and DRF read nothing; ASGI servers deliver it in
pieces. Each case is sent in both forms to every variant, plus the Django service on gunicorn's
sync worker (the registry's Django runs gthread, uvicorn and, through ``all_services``, granian):
the statuses must be equal and the bodies too, ids and timestamps masked, 422s compared by their
``(type, loc)`` entries. The 1 MiB body limit holds for chunked bodies as well.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from tests.contract.api import (
    COLLECTION,
    MAX_BODY,
    content_type,
    dumps,
    error_signature,
    message,
    new_session,
)
from tests.contract.test_equivalence import _normalise

JSON = {"Content-Type": "application/json"}

# (label, body): what both forms send.
BODIES: list[tuple[str, bytes]] = [
    ("valid create", dumps(message("chunked-session", "héllo ✓ in pieces", extra=[1]))),
    ("role outside the enum", dumps(message("chunked-session", "x", role="robot"))),
    ("not JSON", b'{"role": "user", "content": '),
    ("empty body", b""),
    ("over 1 MiB", dumps(message("chunked-session", "a" * MAX_BODY))),
]


def _pieces(body: bytes) -> Iterator[bytes]:
    """The body in uneven pieces (httpx sends an iterator chunked, one chunk a piece)."""
    size = 7 if len(body) < 4096 else 65536
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _answer(resp: httpx.Response) -> tuple[int, object]:
    if resp.status_code == 422:
        return 422, error_signature(resp)
    if resp.status_code < 300:
        return resp.status_code, _normalise(resp.content, {})
    return resp.status_code, (content_type(resp), resp.content)


def _both_forms(base_url: str) -> list[str]:
    """Each body sent with a Content-Length and chunked; the differences, as sentences."""
    problems = []
    # A fresh connection per request: after a 413 a server may close an unread body's
    # connection, which is not what this test is about.
    for label, body in BODIES:
        answers = []
        for form in ("length", "chunked"):
            with httpx.Client(base_url=base_url, timeout=30.0) as client:
                content = body if form == "length" else _pieces(body)
                resp = client.post(COLLECTION, content=content, headers=JSON)
                sent = resp.request.headers
                if form == "chunked":
                    assert sent.get("transfer-encoding") == "chunked", sent
                    assert "content-length" not in sent, sent
                answers.append(_answer(resp))
        if answers[0] != answers[1]:
            problems.append(f"{label}: Content-Length {answers[0]!r}, chunked {answers[1]!r}")
        expected = {"valid create": 201, "over 1 MiB": 413}.get(label, 422)
        if answers[1][0] != expected:
            problems.append(f"{label}: chunked got {answers[1][0]}, expected {expected}")
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        if client.get("/health").status_code != 200:
            problems.append("/health is not 200 afterwards")
        session = new_session()
        made = client.post(
            COLLECTION, content=_pieces(dumps(message(session, "stored"))), headers=JSON
        )
        listed = client.get(COLLECTION, params={"session_id": session}).json()
        if made.status_code != 201 or listed != [made.json()]:
            problems.append(f"a chunked create is not stored as answered: {listed!r}")
    return problems


def test_chunked_bodies_get_the_content_length_answer_on_every_server(
    all_services, start_variant
) -> None:
    servers = {name: service.base_url for name, service in all_services.items()}
    sync = start_variant("django[server=sync]", db_name="t_chunked_django_sync")
    try:
        servers["django[server=sync]"] = sync.base_url
        problems = [f"{name} {p}" for name, url in servers.items() for p in _both_forms(url)]
    finally:
        sync.stop()
    assert not problems, "\n".join(problems)
