"""The chat API on Django Ninja (CHATBENCH_DJANGO_VIEWS=ninja): same model, settings, queries.

Django Ninja routes, parses and validates (pydantic schemas, ``Query``/body parameters) and
renders the answers; the database work is the DRF views' own, statement for statement:
``objects.create`` (one INSERT ... RETURNING), the history page of ``MessageRoutes``, a
``get_object_or_404`` read, one DELETE whose row count tells whether the message existed, and
the same cache calls (chat/cache.py). What Ninja answers on its own differently from the contract
is adapted here, each in one place: body errors (Ninja's 400 for a body it cannot parse, the
body parameter's name in ``loc``), its plain-text 405 (``NinjaMethodNotAllowed``), and what the
document states beyond the routes (``ContractAPI.get_openapi_schema``).
"""

from __future__ import annotations

import json
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal

import orjson
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import NinjaAPI, Query, Schema
from ninja.errors import HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import BaseRenderer
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictStr,
    StringConstraints,
    field_serializer,
)
from pydantic_core import PydanticCustomError

from . import cache
from .limits import MAX_HEADER_FIELD_BYTES, MAX_TARGET_BYTES
from .links import MESSAGE_LINKS
from .models import ChatMessage
from .queries import select_one
from .serializers import BIGINT_MAX, QUERY_INTEGER, RFC3339_UTC
from .views import HEALTH_OK

MAX_BODY_BYTES: int = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # middleware.py answers past it
NO_NUL_PATTERN = "^[^\\u0000]*$"


# -- schemas: the contract's rules, as pydantic states them ----------------------------------


def _storable(value: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise PydanticCustomError("string_nul", "String should not contain NUL characters")
    return value


def _query_integer(value: Any) -> Any:
    """The services' one spelling of a query integer (serializers.QUERY_INTEGER)."""
    if not isinstance(value, str):
        return value
    if not QUERY_INTEGER.fullmatch(value):
        raise PydanticCustomError(
            "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
        )
    negative = value.startswith("-")
    digits = value.lstrip("-").lstrip("0") or "0"
    if len(digits) > len(str(BIGINT_MAX)):  # past bigint: just past it, for the range check
        return -(BIGINT_MAX + 1) if negative else BIGINT_MAX + 1
    return -int(digits) if negative else int(digits)


def _text(max_length: int) -> Any:
    return Annotated[
        StrictStr,
        StringConstraints(min_length=1, max_length=max_length),
        AfterValidator(_storable),
        Field(json_schema_extra={"pattern": NO_NUL_PATTERN}),
    ]


Role = Literal["user", "assistant", "system"]
QueryInt = Annotated[int, BeforeValidator(_query_integer)]


class MessageIn(Schema):
    """``POST /api/chat/messages`` body; unknown keys are ignored."""

    role: Role
    content: _text(32768)  # type: ignore[valid-type]
    session_id: _text(64)  # type: ignore[valid-type]


class HistoryQuery(Schema):
    session_id: _text(64)  # type: ignore[valid-type]
    limit: QueryInt = Field(50, ge=1, le=200)
    after_id: QueryInt = Field(0, ge=0, le=BIGINT_MAX)


class MessageOut(Schema):
    id: int
    role: Role
    content: str
    session_id: str
    created_at: datetime

    @field_serializer("created_at")
    def _rfc3339(self, value: datetime) -> str:
        return value.strftime(RFC3339_UTC)


class HTTPError(Schema):
    """Every error but 422: `{"detail": "<HTTP reason phrase>"}`."""

    detail: str


class ValidationErrorItem(Schema):
    type: str
    loc: list[str | int]
    msg: str


class HTTPValidationError(Schema):
    detail: list[ValidationErrorItem]


class HealthStatus(Schema):
    status: Literal["ok", "unavailable"]


# -- parsing and rendering: JSON exactly as the other services take and give it --------------


class BodyError(Exception):
    """A body that is not a JSON document the API takes: the contract's 422 entries."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid body")
        self.errors = errors


class ContractParser(Parser):
    """``json.loads`` on the raw bytes when the Content-Type is JSON or absent (negotiation.py's
    rule); anything else is refused as the DRF and FastAPI services refuse it."""

    def parse_body(self, request: HttpRequest) -> Any:
        media_type = request.content_type.split(";", 1)[0].strip().lower()
        main, _, sub = media_type.partition("/")
        if media_type and not (main == "application" and (sub == "json" or sub.endswith("+json"))):
            msg = "Input should be a JSON object (Content-Type: application/json)"
            raise BodyError([{"type": "model_attributes_type", "loc": ["body"], "msg": msg}])
        try:
            data = json.loads(request.body)
        except json.JSONDecodeError as exc:
            position = exc.pos
        except (ValueError, RecursionError):
            position = 0
        else:
            if isinstance(data, dict):
                return data
            # Ninja would look the fields up in it and report each one missing.
            msg = "Input should be a valid dictionary or object to extract fields from"
            raise BodyError([{"type": "model_attributes_type", "loc": ["body"], "msg": msg}])
        error = {"type": "json_invalid", "loc": ["body", position], "msg": "JSON decode error"}
        raise BodyError([error])


class ORJSONRenderer(BaseRenderer):
    """Compact JSON, non-ASCII as raw UTF-8: the bytes the DRF and FastAPI services give."""

    media_type = "application/json"

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> Any:
        return b"" if data is None else orjson.dumps(data)


# -- the document: what it states beyond the routes ------------------------------------------


# chat_message()'s id rule: any other path segment is a 404.
MESSAGE_ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": BIGINT_MAX}
DESCRIPTIONS = {
    404: "No message has this id.",
    413: f"The body is over {MAX_BODY_BYTES} bytes.",
    414: f"The request target (path and query) is over {MAX_TARGET_BYTES} bytes.",
    422: "Invalid body or query: the fields at fault.",
    431: f"A header field (name and value) is over {MAX_HEADER_FIELD_BYTES} bytes.",
    503: "The database cannot be reached.",
}


class ContractAPI(NinjaAPI):
    """Ninja's document, plus the links a message leads to and the integer rule of the id."""

    def get_content_type(self) -> str:
        return "application/json"  # as the other services say it: no charset parameter

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        document = super().get_openapi_schema(**kwargs)
        for operations in document["paths"].values():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path":
                        parameter["schema"] = dict(MESSAGE_ID_SCHEMA)
                        parameter["description"] = "Message id"
                responses = operation["responses"]
                for status, response in responses.items():
                    if int(status) in DESCRIPTIONS:
                        response["description"] = DESCRIPTIONS[int(status)]
                op = operation["operationId"]
                if op == "create_message":
                    responses[201]["links"] = MESSAGE_LINKS
                elif op == "read_message":
                    responses[200]["links"] = {
                        k: v for k, v in MESSAGE_LINKS.items() if k != "ReadMessage"
                    }
        return document


api = ContractAPI(
    title="chatbench ChatMessage API (Django Ninja)",
    version="1.0.0",
    urls_namespace="chat-ninja",
    parser=ContractParser(),
    renderer=ORJSONRenderer(),
    openapi_url="/openapi.json",
    docs_url="/docs",
)


def _reason(request: HttpRequest, status: int) -> HttpResponse:
    return api.create_response(request, {"detail": HTTPStatus(status).phrase}, status=status)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        loc = list(error["loc"])
        if loc[:2] == ["body", "payload"]:  # the body parameter's name is no part of the API
            del loc[1]
        errors.append({"type": error["type"], "loc": loc, "msg": error["msg"]})
    return api.create_response(request, {"detail": errors}, status=422)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, BodyError):  # Ninja's 400 for a body its parser refused
        return api.create_response(request, {"detail": exc.__cause__.errors}, status=422)
    return _reason(request, exc.status_code)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _reason(request, 404)


@api.exception_handler(OperationalError)
def _database_down(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _reason(request, 503)


api.add_exception_handler(InterfaceError, _database_down)

ANY_REQUEST = {414: HTTPError, 431: HTTPError, 503: HTTPError}
COLLECTION = "/api/chat/messages"
ITEM = "/api/chat/messages/{id}"


def chat_message(text: str) -> int:
    """The id from the path, under the services' rule: 1 to 19 ASCII digits, a positive bigint."""
    if text.isascii() and text.isdigit() and len(text) <= len(str(BIGINT_MAX)):
        value = int(text)
        if 0 < value <= BIGINT_MAX:
            return value
    raise Http404


def _out(message: ChatMessage) -> dict[str, Any]:
    return MessageOut.from_orm(message).model_dump()


def _routes(slash: str) -> None:
    """Register every route at ``slash``-ended paths (canonical: none; the slashed twin is
    routed identically, not redirected, and left out of the document)."""
    documented = not slash
    tags = ["messages"]

    @api.post(COLLECTION + slash, response={201: MessageOut, 413: HTTPError, 422: HTTPValidationError, **ANY_REQUEST},
              operation_id="create_message" if documented else None, summary="Post a message",
              tags=tags, include_in_schema=documented)  # fmt: skip
    def create_message(request: HttpRequest, payload: MessageIn):
        message = ChatMessage.objects.create(**payload.model_dump())
        cache.history_changed(message.session_id)
        return 201, _out(message)

    @api.get(COLLECTION + slash, response={200: list[MessageOut], 422: HTTPValidationError, **ANY_REQUEST},
             operation_id="list_messages" if documented else None,
             summary="A session's history, oldest first", tags=tags, include_in_schema=documented)  # fmt: skip
    def list_messages(request: HttpRequest, query: Query[HistoryQuery]):
        key = cache.history_key(query.session_id, query.after_id, query.limit)
        data = cache.get_page(key)
        if data is None:
            page = ChatMessage.objects.filter(session_id=query.session_id, id__gt=query.after_id)
            data = [_out(m) for m in page.order_by("id")[: query.limit]]
            cache.put_page(key, data)
        return 200, data

    @api.get(ITEM + slash, response={200: MessageOut, 404: HTTPError, **ANY_REQUEST},
             operation_id="read_message" if documented else None, summary="One message",
             tags=tags, include_in_schema=documented)  # fmt: skip
    def read_message(request: HttpRequest, id: str):
        message_id = chat_message(id)
        data = cache.get_message(message_id)
        if data is None:
            data = _out(get_object_or_404(ChatMessage.objects.all(), pk=message_id))
            cache.put_message(message_id, data)
        return 200, data

    @api.delete(ITEM + slash, response={204: None, 404: HTTPError, **ANY_REQUEST},
                operation_id="delete_message" if documented else None,
                summary="Delete a message", tags=tags, include_in_schema=documented)  # fmt: skip
    def delete_message(request: HttpRequest, id: str):
        message_id = chat_message(id)
        session_id = _session_of(message_id) if cache.ENABLED else None
        deleted, _ = ChatMessage.objects.filter(pk=message_id).delete()
        if not deleted:
            raise Http404
        if session_id is not None:
            cache.message_deleted(message_id, session_id)
        return 204, None

    @api.get("/health" + slash, response={200: HealthStatus, 414: HTTPError, 431: HTTPError, 503: HealthStatus},
             operation_id="health" if documented else None, summary="Readiness (runs SELECT 1)",
             tags=["health"], include_in_schema=documented)  # fmt: skip
    def health(request: HttpRequest):
        try:
            select_one()
        except DatabaseError:
            return 503, {"status": "unavailable"}
        return 200, HEALTH_OK


def _session_of(message_id: int) -> str:
    """The message's session (cache hit, or one SELECT), as the DRF view finds it; 404 if none."""
    cached = cache.get_message(message_id)
    if cached is not None:
        return cached["session_id"]
    session_id = (
        ChatMessage.objects.filter(pk=message_id).values_list("session_id", flat=True).first()
    )
    if session_id is None:
        raise Http404
    return session_id


_routes("")
_routes("/")

# The order every service lists a path's methods in (the Allow header of a 405).
METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


class NinjaMethodNotAllowed:
    """Ninja answers a method a path does not list with a plain-text 405 and an unordered
    ``Allow``; the contract's is ``{"detail": "Method Not Allowed"}`` with the methods in order."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 405 or response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return response
        allowed = {m.strip() for m in response.get("Allow", "").split(",") if m.strip()}
        answer = _reason(request, 405)
        answer["Allow"] = ", ".join(m for m in METHOD_ORDER if m in allowed)
        return answer
