"""What the OpenAPI document says beyond what FastAPI infers from the routes.

FastAPI documents the success response and the 422 of a route with parameters or a body. The
service also answers 404, 413, 414, 431 and 503, identifies messages by an integer its own rule
parses (routes/common.py), and a created message is the key to three other operations. The route
decorators of all three styles take their arguments from here (``CREATE``, ``HISTORY``,
``READ``, ``DELETE``, ``HEALTH``), so every style publishes one document; tests/contract/
test_conformance.py holds the services to it with schemathesis.

Rules stated here come from the code that enforces them: ``schemas.py`` (body and query,
including ``NO_NUL_PATTERN``), ``limits.py`` (sizes), ``routes/common.py`` (the id).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from impl_fastapi.limits import MAX_BODY_BYTES, MAX_HEADER_FIELD_BYTES, MAX_TARGET_BYTES
from impl_fastapi.schemas import BIGINT_MAX

DESCRIPTION = f"""\
The chatbench ChatMessage API, served by FastAPI.

Every error is JSON: 422 `{{"detail": [{{"type", "loc", "msg", ...}}]}}` for an invalid body or
query, `{{"detail": "<HTTP reason phrase>"}}` for the others. Whatever the path:
a request target (path and query) over {MAX_TARGET_BYTES} bytes is 414, a header field (name and
value) over {MAX_HEADER_FIELD_BYTES} bytes is 431, a body over {MAX_BODY_BYTES} bytes is 413, and
a method a path does not list is 405 with an `Allow` header."""


class HTTPError(BaseModel):
    """Every error but 422: `{"detail": "<HTTP reason phrase>"}`."""

    detail: str


def _error(description: str) -> dict[str, Any]:
    return {"model": HTTPError, "description": description}


# Any request can be over a size limit or find the database unreachable.
ANY_REQUEST: dict[int | str, dict[str, Any]] = {
    414: _error(f"The request target (path and query) is over {MAX_TARGET_BYTES} bytes."),
    431: _error(f"A header field (name and value) is over {MAX_HEADER_FIELD_BYTES} bytes."),
    503: _error("The database cannot be reached."),
}
NOT_FOUND = _error("No message has this id.")
TOO_LARGE = _error(f"The body is over {MAX_BODY_BYTES} bytes.")

# The ``{message_id}`` path segment, as routes/common.py reads it (any other segment is a 404).
# Declared here rather than as a FastAPI parameter: FastAPI would document the ``str`` it is
# read as, and a 422 that this route never answers.
MESSAGE_ID = {
    "name": "message_id",
    "in": "path",
    "required": True,
    "description": "Message id",
    "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": BIGINT_MAX},
}


def _link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters, "description": description}


# What a message leads to: its own URL, and its session's history.
MESSAGE_LINKS = {
    "ReadMessage": _link("read_message", "This message.", message_id="$response.body#/id"),
    "DeleteMessage": _link("delete_message", "Delete it.", message_id="$response.body#/id"),
    "SessionHistory": _link(
        "list_messages", "Its session's history.", session_id="$response.body#/session_id"
    ),
}

CREATE: dict[str, Any] = {
    "status_code": 201,
    "operation_id": "create_message",
    "summary": "Post a message",
    "responses": {
        201: {"description": "The stored message.", "links": MESSAGE_LINKS},
        413: TOO_LARGE,
        **ANY_REQUEST,
    },
}
HISTORY: dict[str, Any] = {
    "operation_id": "list_messages",
    "summary": "A session's history, oldest first",
    "responses": dict(ANY_REQUEST),
}
READ: dict[str, Any] = {
    "operation_id": "read_message",
    "summary": "One message",
    "responses": {
        200: {
            "description": "The message.",
            "links": {k: v for k, v in MESSAGE_LINKS.items() if k != "ReadMessage"},
        },
        404: NOT_FOUND,
        **ANY_REQUEST,
    },
    "openapi_extra": {"parameters": [MESSAGE_ID]},
}
DELETE: dict[str, Any] = {
    "status_code": 204,
    "operation_id": "delete_message",
    "summary": "Delete a message",
    "responses": {204: {"description": "Deleted."}, 404: NOT_FOUND, **ANY_REQUEST},
    "openapi_extra": {"parameters": [MESSAGE_ID]},
}
HEALTH: dict[str, Any] = {
    "operation_id": "health",
    "summary": "Readiness (runs SELECT 1)",
    "tags": ["health"],
    "responses": dict(ANY_REQUEST),
}
