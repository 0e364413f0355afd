"""Cross-variant equivalence: one request sequence, every variant, the same answers.

Success bodies must be byte-equal once the values that legitimately differ per database
(``id``, ``created_at``) are normalised; error answers must have the same status, the same
bytes for 404/405/413 and the same ``(type, loc)`` entries for 422. The databases must also
have the same schema (``pg_dump --schema-only``).
"""

from __future__ import annotations

import re

import httpx

from chatbench.provisioning import postgres
from tests.contract.api import COLLECTION, dumps, error_signature, item
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
