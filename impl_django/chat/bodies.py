"""Chunked request bodies, handed to Django as if they had come with a Content-Length.

A client that does not know a body's length up front (Node's ``http``, Go's client, ``curl -H
'Transfer-Encoding: chunked'``) sends it chunked. gunicorn and granian then give Django no
``CONTENT_LENGTH``, and Django's ``WSGIRequest`` and DRF's parser read such a body as empty; under
ASGI Django receives the whole body but DRF still reads nothing without a ``Content-Length``. The
FastAPI service reads the body either way. So, in front of Django's handler (wsgi.py, asgi.py), a
chunked body is read here up to the 1 MiB limit and handed on with its length: every answer is then
the one the same body gets with a ``Content-Length`` header, and a chunked body over the limit gets
the same JSON 413 (middleware.py answers a declared length over it).

No Django import here, as in limits.py: the entry points build these before the first request.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from .limits import error_body

READ_BYTES = 64 * 1024
# Past the limit the rest of an oversized chunked body is read and thrown away up to this size
# before the 413, so the connection stays usable, as middleware.py does for a declared length.
DISCARD_MAX_BYTES = 8 * 1024 * 1024
TOO_LARGE = 413


def _is_chunked(transfer_encoding: str) -> bool:
    return "chunked" in transfer_encoding.lower()


def _read_up_to(read: Any, limit: int) -> bytes | None:
    """The body from ``read(n)``, or None once it is past ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while part := read(READ_BYTES):
        size += len(part)
        if size > limit:
            return None
        parts.append(part)
    return b"".join(parts)


class WSGIChunkedBody:
    """WSGI middleware: a chunked body becomes ``wsgi.input`` with a ``CONTENT_LENGTH``."""

    def __init__(self, app: Any, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("CONTENT_LENGTH") or not _is_chunked(
            environ.get("HTTP_TRANSFER_ENCODING", "")
        ):
            return self.app(environ, start_response)
        stream = environ["wsgi.input"]
        body = _read_up_to(stream.read, self.limit)
        if body is None:
            discarded = self.limit
            while discarded <= DISCARD_MAX_BYTES and (part := stream.read(READ_BYTES)):
                discarded += len(part)
            payload = error_body(TOO_LARGE)
            start_response(
                "413 Request Entity Too Large",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


class ASGIChunkedBody:
    """ASGI middleware: a chunked body is received whole and passed on as one message, with a
    ``content-length`` header added to the scope."""

    def __init__(self, app: Any, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self._chunked(scope["headers"]):
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            part = message.get("body", b"")
            size += len(part)
            if size > self.limit:
                await self._too_large(send)
                return
            parts.append(part)
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        headers = [*scope["headers"], (b"content-length", str(len(body)).encode())]
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)

    @staticmethod
    def _chunked(headers: Iterable[tuple[bytes, bytes]]) -> bool:
        chunked = False
        for name, value in headers:
            if name == b"content-length":
                return False
            if name == b"transfer-encoding":
                chunked = _is_chunked(value.decode("latin-1"))
        return chunked

    @staticmethod
    async def _too_large(send: Any) -> None:
        payload = error_body(TOO_LARGE)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": TOO_LARGE, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
