"""Cross-variant equivalence: one request sequence, every variant, the same answers.

Success bodies must be byte-equal once the values that legitimately differ per database
(``id``, ``created_at``) are normalised; error answers must have the same status, the same
bytes for 404/405/413/414/431 and the same ``(type, loc)`` entries for 422. Over-long request
lines and headers get the same answer from every server that runs a service (gunicorn gthread
and sync, uvicorn). The databases must also have the same schema (``pg_dump --schema-only``),
and the OpenAPI documents the same rules.
"""

from __future__ import annotations

import re

import httpx

from chatbench.provisioning import postgres
from tests.contract.api import COLLECTION, content_type, dumps, error_signature, item
from tests.contract.cases import ALL_ERRORS, JSON

SESSION = "eq-session-\u00e9\u4f1a"  # the same on every variant, so bodies can be byte-equal
ID = re.compile(rb'"id":(\d+)')
CREATED_AT = re.compile(rb'"created_at":"[^"]*"')


def _normalise(raw: bytes, ids: dict[int, int]) -> bytes:
    """Ids become their order of first appearance in this variant's run, timestamps a mark."""

    def number(m: re.Match) -> bytes:
        value = int(m.group(1))
        return b'"id":#%d' % ids.setdefault(value, len(ids) + 1)

    return CREATED_AT.sub(b'"created_at":"T"', ID.sub(number, raw))


def _run_sequence(client: httpx.Client) -> list[tuple[str, int, object]]:
    """The scripted conversation; each step yields (label, status, comparable body)."""
    out: list[tuple[str, int, object]] = []
    ids: dict[int, int] = {}
    made: list[int] = []

    def step(label: str, resp: httpx.Response) -> httpx.Response:
        if resp.status_code < 300:
            body: object = _normalise(resp.content, ids)
        elif resp.status_code == 422:
            body = error_signature(resp)
        else:
            body = resp.content
        out.append((label, resp.status_code, body))
        return resp

    turns = [("user", "Hello 👋"), ("assistant", "Hi! 你好"), ("system", "x" * 300), ("user", "…?")]
    for role, text in turns:
        msg = {"role": role, "content": text, "session_id": SESSION, "extra": [1]}
        resp = step(f"create {role}", client.post(COLLECTION, content=dumps(msg), headers=JSON))
        made.append(resp.json()["id"])
    for i, message_id in enumerate(made):
        step(f"get #{i}", client.get(item(message_id)))
    step("get seeded 1", client.get(item(1)))
    step("history", client.get(COLLECTION, params={"session_id": SESSION}))
    step("history limit 2", client.get(COLLECTION, params={"session_id": SESSION, "limit": 2}))
    step(
        "history after #0",
        client.get(COLLECTION, params={"session_id": SESSION, "after_id": made[0]}),
    )
    step("history seeded", client.get(COLLECTION, params={"session_id": "seed-00002", "limit": 3}))
    step("delete #1", client.delete(item(made[1])))
    step("get deleted", client.get(item(made[1])))
    step("delete again", client.delete(item(made[1])))
    step("history after delete", client.get(COLLECTION, params={"session_id": SESSION}))
    for case in ALL_ERRORS:
        step(f"error {case.id}", case.send(client))
    for message_id in made:
        client.delete(item(message_id))  # leave the session empty for a re-run
    return out


def test_same_sequence_gives_same_answers_on_every_variant(all_services) -> None:
    answers = {}
    for name, service in all_services.items():
        with httpx.Client(base_url=service.base_url, timeout=30.0, follow_redirects=False) as c:
            answers[name] = _run_sequence(c)
    reference_name, reference = next(iter(answers.items()))
    assert len(reference) > 40
    differences = []
    for name, got in answers.items():
        for (label, status, body), (_, ref_status, ref_body) in zip(got, reference, strict=True):
            if (status, body) != (ref_status, ref_body):
                differences.append(
                    f"{label}: {name} {status} {body!r:.200} != {reference_name} "
                    f"{ref_status} {ref_body!r:.200}"
                )
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences)


def test_schema_is_identical_on_every_variant(all_services) -> None:
    dumps_by_variant = {n: postgres.schema_dump(s.database_url) for n, s in all_services.items()}
    reference = next(iter(dumps_by_variant.values()))
    assert "CREATE TABLE public.chat_messages" in reference
    for name, dump in dumps_by_variant.items():
        assert dump == reference, f"{name}'s schema differs from the first variant's"


# The request target and header field limits of both services (README, "The API both services
# implement"): past them, 414 and 431 with a JSON reason phrase, whatever the server.
LIMIT = 8192
URI_TOO_LONG = b'{"detail":"Request-URI Too Long"}'
HEADERS_TOO_LARGE = b'{"detail":"Request Header Fields Too Large"}'
LIMITS_SESSION = "eq-limits"  # never written


def _target(size: int, path: str = f"{COLLECTION}?session_id={LIMITS_SESSION}&pad=") -> str:
    """A request target of exactly ``size`` bytes (padding in an ignored query parameter)."""
    return path + "a" * (size - len(path))


def _header(size: int) -> dict[str, str]:
    """One header field whose name and value are ``size`` bytes together."""
    return {"X-Pad": "b" * (size - len("X-Pad"))}


# (label, method, target, headers, body, expected status, expected body; None = not compared)
OVER_LONG = [
    ("target at the limit", "GET", _target(LIMIT), {}, None, 200, b"[]"),
    ("target one byte past", "GET", _target(LIMIT + 1), {}, None, 414, URI_TOO_LONG),
    # Past httptools' URL parser (65535 bytes), uvicorn's protocol answers (UvicornProtocol).
    ("target 64 KiB", "GET", _target(65536), {}, None, 414, URI_TOO_LONG),
    ("long item path", "GET", item("1" * LIMIT), {}, None, 414, URI_TOO_LONG),
    ("long delete path", "DELETE", item("9" * LIMIT), {}, None, 414, URI_TOO_LONG),
    ("long health query", "GET", _target(LIMIT + 1, "/health?"), {}, None, 414, URI_TOO_LONG),
    ("long post query", "POST", _target(LIMIT + 1, f"{COLLECTION}?"), JSON, b"{}", 414,
     URI_TOO_LONG),
    ("header at the limit", "GET", _target(100), _header(LIMIT), None, 200, b"[]"),
    ("header one byte past", "GET", _target(100), _header(LIMIT + 1), None, 431,
     HEADERS_TOO_LARGE),
    ("header 64 KiB", "GET", _target(100), _header(65536), None, 431, HEADERS_TOO_LARGE),
    ("header on a post", "POST", COLLECTION, {**JSON, **_header(LIMIT + 1)}, b"{}", 431,
     HEADERS_TOO_LARGE),
    ("150 header fields", "GET", _target(100), {f"X-H{i}": "v" for i in range(150)}, None, 200,
     b"[]"),
    ("1500 query parameters", "GET", _target(LIMIT)[: LIMIT - 3000] + "&p" * 1500, {}, None, 200,
     b"[]"),
    ("target and header past", "GET", _target(LIMIT + 1), _header(LIMIT + 1), None, 414,
     URI_TOO_LONG),
    # Past gunicorn's own field limit (1 MiB, gunicorn_conf.py) gunicorn answers first, in HTML.
    ("header past 1 MiB", "GET", _target(100), _header(2**20 + 1), None, 431, None),
]  # fmt: skip


# Where granian (server=granian) answers before the application, with its own limits (hyper's: a
# request target of 64 KiB, more than 100 header fields), status only and no body: the status
# is compared, and the 150 fields are refused (docs/variants.md says so).
GRANIAN_OWN = {"target 64 KiB": (414, None), "150 header fields": (431, None)}


def _over_long_answers(base_url: str) -> list[tuple[str, int, str, bytes]]:
    answers = []
    with httpx.Client(base_url=base_url, timeout=30.0, follow_redirects=False) as client:
        for label, method, target, headers, body, _, _ in OVER_LONG:
            resp = client.request(method, target, headers=headers, content=body)
            answers.append((label, resp.status_code, content_type(resp), resp.content))
    return answers


def test_over_long_requests_get_the_same_answer_from_every_server(
    all_services, start_variant
) -> None:
    """Every variant, plus the Django service on gunicorn's sync worker (the registry's Django
    runs gthread and uvicorn): the same status, JSON and bytes at and past each limit; past
    gunicorn's own field limit, the same status; where granian's own limits answer first
    (``GRANIAN_OWN``), its status."""
    servers = {name: service.base_url for name, service in all_services.items()}
    sync = start_variant("django[server=sync]", db_name="t_limits_django_sync")
    try:
        servers["django[server=sync]"] = sync.base_url
        answers = {name: _over_long_answers(url) for name, url in servers.items()}
    finally:
        sync.stop()
    problems = []
    for name, got in answers.items():
        for (label, status, kind, body), case in zip(got, OVER_LONG, strict=True):
            expected_status, expected_body = case[5], case[6]
            if "server=granian" in name and label in GRANIAN_OWN:
                expected_status, expected_body = GRANIAN_OWN[label]
            if expected_body is None:
                if status != expected_status:
                    problems.append(f"{name} {label}: {status} {body[:120]!r} ({kind})")
            elif (status, kind, body) != (expected_status, "application/json", expected_body):
                problems.append(f"{name} {label}: {status} {body[:120]!r} ({kind})")
    assert not problems, "\n".join(problems)
