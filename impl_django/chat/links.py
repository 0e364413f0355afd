"""OpenAPI links of a created message, shared by the DRF and Django Ninja documents of this
service: its own URL and its session's history (the same links as the FastAPI document's,
whose path parameter is called message_id)."""

from __future__ import annotations

from typing import Any


def _link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters, "description": description}


MESSAGE_LINKS = {
    "ReadMessage": _link("read_message", "This message.", id="$response.body#/id"),
    "DeleteMessage": _link("delete_message", "Delete it.", id="$response.body#/id"),
    "SessionHistory": _link(
        "list_messages", "Its session's history.", session_id="$response.body#/session_id"
    ),
}
