"""Request size limits, answered in JSON before any route runs (the same on the Django service).

- a request target (path and query, as sent) over ``MAX_TARGET_BYTES``: 414;
- a header field (name and value) over ``MAX_HEADER_FIELD_BYTES``: 431;
- a body over ``MAX_BODY_BYTES`` (1 MiB): 413, before the body is read.

uvicorn with httptools has no limit of its own on the headers, and on the request target only the
65535 bytes of httptools' URL parser, past which ``UvicornProtocol`` (serve.py runs it) gives the
same 414; gunicorn's limits, on the Django side, are set above these (impl_django/gunicorn_conf.py),
so the answer is the same whichever server runs a service.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_BODY_BYTES = 1_048_576  # 1 MiB, same limit as the Django service
MAX_TARGET_BYTES = 8192  # same limits as the Django service (impl_django/chat/limits.py)
MAX_HEADER_FIELD_BYTES = 8192
TOO_LARGE_DETAIL = "Request Entity Too Large"


def target_bytes(scope: Scope) -> int:
    """Length of the request target as sent: the raw path, plus ``?query`` when there is one."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope["query_string"]
    return len(raw_path) + (1 + len(query) if query else 0)


def head_status(scope: Scope) -> int | None:
    """414 or 431 when the request line or a header is over its limit, 404 for a path ending in
    a newline (``%0A``: Starlette's route patterns end in ``$``, which matches before a final
    newline, so ``/api/chat/messages/%0A`` reached the collection route and answered 422;
    Django's end in ``\\Z`` and answer 404), else None."""
    if target_bytes(scope) > MAX_TARGET_BYTES:
        return 414
    if scope["path"].endswith("\n"):
        return 404
    if any(len(name) + len(value) > MAX_HEADER_FIELD_BYTES for name, value in scope["headers"]):
        return 431
    return None


class RequestHeadLimitMiddleware:
    """Pure ASGI middleware: 414/431 ``{"detail": "<reason phrase>"}`` for an over-long request
    target or header field (and 404 for a path ending in a newline), before anything else looks
    at the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (status := head_status(scope)) is not None:
            response = JSONResponse({"detail": HTTPStatus(status).phrase}, status_code=status)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class UvicornProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (``uvicorn.run(http=...)``), answering a request target too
    long for httptools' URL parser (over 65535 bytes) as ``RequestHeadLimitMiddleware`` answers
    any target over ``MAX_TARGET_BYTES``: a JSON 414, not uvicorn's plain-text 400 (kept for
    every other request it cannot parse). impl_django/uvicorn_protocol.py holds the same class
    for the other service."""

    def send_400_response(self, msg: str) -> None:
        if len(getattr(self, "url", b"")) <= MAX_TARGET_BYTES:
            super().send_400_response(msg)
            return
        body = json.dumps({"detail": HTTPStatus(414).phrase}, separators=(",", ":")).encode()
        content = [STATUS_LINE[414]]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(content))
        self.transport.close()


class RequestTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE_DETAIL)


class BodySizeLimitMiddleware:
    """Pure ASGI middleware.

    A ``Content-Length`` over the limit is answered at once, without reading the body. A body
    without one (``Transfer-Encoding: chunked``) is counted as it arrives; the read that crosses
    the limit raises ``RequestTooLarge``, which FastAPI's handlers turn into the same 413 JSON.
    Bodies with a ``Content-Length`` need no counting: the HTTP server delivers exactly that many.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_body_bytes:
                    response = JSONResponse({"detail": TOO_LARGE_DETAIL}, status_code=413)
                    await response(scope, receive, send)
                    return
                await self.app(scope, receive, send)
                return

        received = 0
        limit = self.max_body_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge()
            return message

        await self.app(scope, counting_receive, send)
