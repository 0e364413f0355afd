"""The error contract: whatever a client sends wrong becomes a JSON 4xx, never a 500.

Both services answer errors in FastAPI's shapes:

- invalid body or query: 422 ``{"detail": [{"type": ..., "loc": ["body"|"query", field], "msg": ...}]}``
  (``type`` uses pydantic's error names where one fits, ``msg`` is DRF's message);
- any other HTTP error: ``{"detail": "<reason phrase>"}`` such as ``"Not Found"``,
  ``"Method Not Allowed"``, ``"Request Entity Too Large"`` (Starlette's default text).

`exception_handler` covers DRF views; `bad_request`/`not_found`/`server_error` are
Django's handler400/404/500 for everything that never reaches a view.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

# DRF error code -> pydantic error type, so both services name a failure alike.
ERROR_TYPES = {
    "required": "missing",
    "null": "string_type",
    "string_type": "string_type",
    "blank": "string_too_short",
    "min_length": "string_too_short",
    "max_length": "string_too_long",
    "invalid_choice": "literal_error",
    "null_characters_not_allowed": "string_nul",  # the FastAPI service's custom type
    "surrogate_characters_not_allowed": "string_unicode",
    "invalid": "int_parsing",
    "min_value": "greater_than_equal",
    "max_value": "less_than_equal",
}


class RequestValidationError(exceptions.ValidationError):
    """A 422 for one part of the request (`location`: "body", "query" or "path")."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY

    def __init__(self, detail: Any, *, location: str) -> None:
        super().__init__(detail)
        self.location = location


def validation_errors(detail: Any, location: str) -> list[dict[str, Any]]:
    """Flatten DRF's ``{field: [ErrorDetail, ...]}`` into FastAPI's error list."""
    if not isinstance(detail, dict):
        detail = {api_settings.NON_FIELD_ERRORS_KEY: detail}
    errors = []
    for field, messages in detail.items():
        whole = field == api_settings.NON_FIELD_ERRORS_KEY
        loc = [location] if whole else [location, field]
        for message in messages if isinstance(messages, list) else [messages]:
            code = getattr(message, "code", "invalid")
            # The only whole-body "invalid" is a JSON value that is not an object.
            kind = "model_attributes_type" if whole else ERROR_TYPES.get(code, code)
            errors.append({"type": kind, "loc": loc, "msg": str(message)})
    return errors


def unprocessable(errors: list[dict[str, Any]]) -> Response:
    return Response({"detail": errors}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: the contract's status codes and bodies."""
    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        return unprocessable(validation_errors(exc.detail, getattr(exc, "location", "body")))
    if isinstance(exc, exceptions.ParseError):
        loc = ["body", getattr(exc, "position", 0)]
        return unprocessable([{"type": "json_invalid", "loc": loc, "msg": "JSON decode error"}])
    if isinstance(exc, exceptions.UnsupportedMediaType):
        # FastAPI validates a non-JSON body as raw bytes, which fails the same way.
        msg = "Input should be a JSON object (Content-Type: application/json)"
        return unprocessable([{"type": "model_attributes_type", "loc": ["body"], "msg": msg}])

    headers = {}
    if isinstance(exc, Http404):
        code = status.HTTP_404_NOT_FOUND
    elif isinstance(exc, RequestDataTooBig):
        code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    elif isinstance(exc, OperationalError | InterfaceError):
        # The database is down or unreachable: the service's fault, not the client's.
        code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif isinstance(exc, exceptions.APIException):
        code = exc.status_code
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    else:
        return None  # a bug: Django's handler500 answers (and logs it)
    set_rollback()
    return Response({"detail": HTTPStatus(code).phrase}, status=code, headers=headers)


def error_response(code: int) -> HttpResponse:
    """``{"detail": "<reason phrase>"}`` outside DRF (middleware, URL resolver, crashes)."""
    body = orjson.dumps({"detail": HTTPStatus(code).phrase})
    return HttpResponse(body, status=code, content_type="application/json")


def bad_request(request, exception=None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return error_response(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    return error_response(status.HTTP_400_BAD_REQUEST)


def not_found(request, exception=None) -> HttpResponse:
    return error_response(status.HTTP_404_NOT_FOUND)


def server_error(request) -> HttpResponse:
    return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR)
