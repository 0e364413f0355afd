"""serving.openapi_contract: schemathesis against each service's own document, and the services
held to answering every generated request alike.

Tiny in-process services (stdlib) stand for a pair: one answers as its twin does, one answers a
success differently, one breaks its own document; then the bundled Django and FastAPI services,
each on its own clone, through ``chatbench verify --contract openapi``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from chatbench import cli
from chatbench.errors import ServerError
from chatbench.serving import openapi_contract as oc

DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "items", "version": "1"},
    "paths": {
        "/items/{item_id}": {
            "get": {
                "operationId": "read_item",
                "parameters": [
                    {
                        "name": "item_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "the item",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["id", "name", "at"],
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "name": {"type": "string"},
                                        "at": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "422": {
                        "description": "not an item id",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                },
            }
        }
    },
}


def _handler(flavour: str, served: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/openapi.json":
                self._json(200, DOCUMENT)
                return
            served.append(self.path)
            raw_id = path.rsplit("/", 1)[-1]
            if not raw_id.isdigit() or not 1 <= int(raw_id) <= 100:
                self._json(422, {"detail": "not an item id"})
                return
            n = int(raw_id)
            # Ids and timestamps differ between twins holding the same data: masked.
            row = {
                "id": n + (1000 if flavour == "twin" else 0),
                "name": f"item {n}",
                "at": f"2026-12-07T10:00:00.{n if flavour == 'twin' else 0:06d}Z",
            }
            if flavour == "renamed" and n % 2:
                row["name"] = f"Item {n}"
            if flavour == "undocumented" and n % 2:
                self._json(418, {"detail": "teapot"})
                return
            self._json(200, row)

    return Handler


@contextmanager
def serving(name: str, flavour: str) -> Iterator[tuple[oc.Service, list[str]]]:
    served: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(flavour, served))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield oc.Service(name, f"http://127.0.0.1:{server.server_address[1]}"), served
    finally:
        server.shutdown()
        server.server_close()


def test_twins_that_answer_alike_pass_with_ids_and_timestamps_masked() -> None:
    with serving("a", "plain") as (a, seen_a), serving("b", "twin") as (b, seen_b):
        report = oc.compare([a, b], examples=6)
    assert report.ok, report.summary()
    assert report.services == ("a", "b") and report.operations == {"a": 1, "b": 1}
    # Each document generated valid and invalid requests; both services got all, in order.
    assert report.probes == len(seen_a) == len(seen_b) > 6 and seen_a == seen_b
    assert "every service answered every one alike" in report.summary()


def test_a_different_success_body_is_a_difference() -> None:
    with serving("a", "plain") as (a, _), serving("b", "renamed") as (b, _):
        report = oc.compare([a, b], examples=6)
    assert not report.ok and report.differences and not report.violations
    first = report.differences[0]
    assert {answer.status for answer in first.answers.values()} == {200}
    assert "Item" in first.sentence() and "GET /items/" in first.sentence()


def test_an_answer_its_document_does_not_allow_is_a_violation() -> None:
    with serving("a", "undocumented") as (a, _):
        report = oc.compare([a], examples=6)
    assert not report.ok and not report.differences
    assert {v.service for v in report.violations} == {"a"}
    assert any("418" in v.sentence() for v in report.violations), report.violations


def test_the_same_seed_generates_the_same_requests() -> None:
    first = [p.request for p in oc.probes("a", DOCUMENT, examples=5, seed=3)]
    assert first == [p.request for p in oc.probes("a", DOCUMENT, examples=5, seed=3)]
    assert first != [p.request for p in oc.probes("a", DOCUMENT, examples=5, seed=4)]


def test_mask_hides_ids_and_timestamps_only() -> None:
    body = [{"id": 3, "session_id": "s", "created_at": "2026-12-07T10:00:00.123456Z", "n": 1}]
    assert oc.mask(body) == [{"id": oc.MASKED, "session_id": "s", "created_at": oc.MASKED, "n": 1}]


def test_a_service_without_a_document_is_one_sentence() -> None:
    with serving("a", "plain") as (a, _):
        missing = oc.Service("a", a.base_url, "/nowhere.json")
        with pytest.raises(ServerError, match="serves no OpenAPI document at /nowhere.json"):
            oc.compare([missing])


def test_django_and_fastapi_answer_their_generated_requests_alike(
    pg_server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bundled twins, each on its own clone, through the command."""
    argv = [
        "verify",
        "--contract",
        "openapi",
        "--variants",
        "django,fastapi",
        "--examples",
        "4",
        "--database-url",
        pg_server_url,
    ]
    assert cli.main(argv) == 0, capsys.readouterr().err
    out = " ".join(capsys.readouterr().out.split())
    assert "every service answered every one alike and as its document says" in out
