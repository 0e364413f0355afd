"""Request head limits, answered in JSON before Django sees the request (same as the FastAPI service).

- a request target (path and query, as sent) over ``MAX_TARGET_BYTES``: 414;
- a header field (name and value) over ``MAX_HEADER_FIELD_BYTES``: 431;

each as ``{"detail": "<HTTP reason phrase>"}``. ``WSGIRequestHeadLimit`` wraps the WSGI
application (gunicorn), ``ASGIRequestHeadLimit`` the ASGI one (uvicorn). The servers' own limits
are above these (gunicorn_conf.py; uvicorn's httptools refuses only a target over 65535 bytes,
answered with the same JSON 414 by ../uvicorn_protocol.py), so the answer to an over-long request
is this one whichever server runs the service. The body limit (413) is
middleware.py's.

No Django import here: settings.py reads the limits for the OpenAPI description.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import orjson

MAX_TARGET_BYTES = 8192
MAX_HEADER_FIELD_BYTES = 8192


def head_status(target_bytes: int, field_bytes: Iterable[int]) -> int | None:
    """414 or 431 when the target or some header field is over its limit, else None."""
    if target_bytes > MAX_TARGET_BYTES:
        return 414
    if any(size > MAX_HEADER_FIELD_BYTES for size in field_bytes):
        return 431
    return None


def error_body(status: int) -> bytes:
    return orjson.dumps({"detail": HTTPStatus(status).phrase})


def wsgi_target_bytes(environ: dict[str, Any]) -> int:
    """The request target's length as sent: gunicorn's ``RAW_URI`` (latin-1, one character a byte),
    measured like ASGI's ``raw_path`` + ``?query_string``: no fragment, no ``?`` before an empty
    query. Other WSGI servers: the decoded path and the query, close enough."""
    raw = environ.get("RAW_URI")
    if raw is None:
        query = environ.get("QUERY_STRING", "")
        return len(environ.get("PATH_INFO", "")) + (1 + len(query) if query else 0)
    path, _, query = raw.partition("#")[0].partition("?")
    return len(path) + (1 + len(query) if query else 0)


def wsgi_field_bytes(environ: dict[str, Any]) -> Iterable[int]:
    """Each header field's name + value length. ``HTTP_X_NAME`` is the header ``X-Name`` (5 bytes
    shorter); Content-Type and Content-Length keep their length as CONTENT_TYPE/CONTENT_LENGTH.
    gunicorn joins repeated fields with ``,`` into one variable, measured as one field here."""
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            yield len(key) - 5 + len(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            yield len(key) + len(value)


class WSGIRequestHeadLimit:
    """WSGI middleware in front of Django's WSGIHandler."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        status = head_status(wsgi_target_bytes(environ), wsgi_field_bytes(environ))
        if status is None:
            return self.app(environ, start_response)
        body = error_body(status)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]


class ASGIRequestHeadLimit:
    """ASGI middleware in front of Django's ASGIHandler (and of the body-size guard)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or scope["path"].encode()
            query = scope["query_string"]
            target = len(raw_path) + (1 + len(query) if query else 0)
            fields = (len(name) + len(value) for name, value in scope["headers"])
            status = head_status(target, fields)
            if status is not None:
                body = error_body(status)
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
