"""The OpenAPI document (drf-spectacular): the views' annotations and the document's hooks.

drf-spectacular documents each action's serializers; this adds what the service answers beyond
them: 404, 413, 414, 431 and 503 in their JSON shapes, 422 in the shape exceptions.py gives it, the
id rule of ``MessageRoutes.message_id``, and the links a created message leads to. Both view
modes (views.py, async_views.py) take their annotations from here, so they publish one document
(tests/test_django_async.py compares them); tests/contract/test_conformance.py holds the service
to it with schemathesis.

Rules stated here come from the code that enforces them: serializers.py (body and query; the NUL
rule is ``ProhibitNul``'s pattern), limits.py and middleware.py (sizes), views.py (the id).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers

from .limits import MAX_HEADER_FIELD_BYTES, MAX_TARGET_BYTES
from .links import MESSAGE_LINKS
from .serializers import BIGINT_MAX, ChatMessageSerializer, HistoryQuerySerializer

MAX_BODY_BYTES: int = settings.DATA_UPLOAD_MAX_MEMORY_SIZE


# The error shapes of exceptions.py. Their docstrings are the components' descriptions.
class HTTPErrorSerializer(serializers.Serializer):
    """Every error but 422: `{"detail": "<HTTP reason phrase>"}`."""

    detail = serializers.CharField()


@extend_schema_field(
    {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}
)
class LocationField(serializers.ListField):
    """``loc``: where the error is, e.g. ``["body", "content"]`` or ``["body", 17]``."""


class ValidationErrorSerializer(serializers.Serializer):
    """One thing wrong with the request: what (`type`, `msg`) and where (`loc`)."""

    type = serializers.CharField()
    loc = LocationField()
    msg = serializers.CharField()


class HTTPValidationErrorSerializer(serializers.Serializer):
    detail = ValidationErrorSerializer(many=True)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(HTTPErrorSerializer, description=description)


# Any request can be over a size limit or find the database unreachable.
ANY_REQUEST = {
    414: _error(f"The request target (path and query) is over {MAX_TARGET_BYTES} bytes."),
    431: _error(f"A header field (name and value) is over {MAX_HEADER_FIELD_BYTES} bytes."),
    503: _error("The database cannot be reached."),
}
INVALID = OpenApiResponse(
    HTTPValidationErrorSerializer, description="Invalid body or query: the fields at fault."
)
NOT_FOUND = _error("No message has this id.")
TOO_LARGE = _error(f"The body is over {MAX_BODY_BYTES} bytes.")
# MessageRoutes.message_id's rule: any other path segment is a 404.
MESSAGE_ID = OpenApiParameter(
    "id",
    {"type": "integer", "format": "int64", "minimum": 1, "maximum": BIGINT_MAX},
    OpenApiParameter.PATH,
    description="Message id",
)
MESSAGES_DESCRIPTION = (
    "Create, list (one session's history), retrieve and delete; messages are never updated."
)


def message_schema(viewset: type) -> type:
    """The OpenAPI annotations of a message viewset (actions: create, list, retrieve, destroy)."""
    viewset = extend_schema_view(
        create=extend_schema(
            operation_id="create_message",
            summary="Post a message",
            responses={
                201: OpenApiResponse(ChatMessageSerializer, description="The stored message."),
                413: TOO_LARGE,
                422: INVALID,
                **ANY_REQUEST,
            },
        ),
        list=extend_schema(
            operation_id="list_messages",
            summary="A session's history, oldest first",
            parameters=[HistoryQuerySerializer],
            responses={200: ChatMessageSerializer(many=True), 422: INVALID, **ANY_REQUEST},
        ),
        retrieve=extend_schema(
            operation_id="read_message",
            summary="One message",
            parameters=[MESSAGE_ID],
            responses={
                200: OpenApiResponse(ChatMessageSerializer, description="The message."),
                404: NOT_FOUND,
                **ANY_REQUEST,
            },
        ),
        destroy=extend_schema(
            operation_id="delete_message",
            summary="Delete a message",
            parameters=[MESSAGE_ID],
            responses={204: OpenApiResponse(description="Deleted."), 404: NOT_FOUND, **ANY_REQUEST},
        ),
    )(viewset)
    # The description is set here, not taken from each class's docstring: both modes, one document.
    return extend_schema(tags=["messages"], description=MESSAGES_DESCRIPTION)(viewset)


def _status(value: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": [value]}},
        "required": ["status"],
    }


HEALTH_SCHEMA: dict[str, Any] = {
    "operation_id": "health",
    "tags": ["health"],
    "summary": "Readiness (runs SELECT 1)",
    "responses": {
        200: OpenApiResponse(_status("ok"), description="The database answers."),
        414: ANY_REQUEST[414],
        431: ANY_REQUEST[431],
        503: OpenApiResponse(_status("unavailable"), description="The database does not answer."),
    },
}


def canonical_paths_only(endpoints, **kwargs):
    """List each route once, under its canonical (unslashed) path.

    The router's optional trailing slash would otherwise show up in the document
    as a literal trailing slash.
    """
    return [
        (path.rstrip("/") or "/", regex, method, view) for path, regex, method, view in endpoints
    ]


LINKS = {
    ("create_message", "201"): MESSAGE_LINKS,
    ("read_message", "200"): {k: v for k, v in MESSAGE_LINKS.items() if k != "ReadMessage"},
}


def operation_links(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS: add ``LINKS`` to their responses (drf-spectacular has no link API)."""
    for operations in result["paths"].values():
        for operation in operations.values():
            for (operation_id, status), links in LINKS.items():
                if operation.get("operationId") == operation_id:
                    operation["responses"][status]["links"] = links
    return result
