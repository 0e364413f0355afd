"""The service's middleware: Django's CommonMiddleware kept off threads under ASGI, and the
request-size guard that refuses a body over the 1 MiB limit before anything parses it."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.middleware import common
from rest_framework import status

from .exceptions import error_response

# An oversized body up to this size is read and thrown away after the 413 is
# decided: gunicorn drains at most 64 KiB of an unread body and otherwise closes
# the connection despite announcing keep-alive, which breaks clients that reuse
# it (uvicorn keeps such connections usable). Beyond this, no byte is read and
# the connection is closed.
DISCARD_MAX_BYTES = 8 * 1024 * 1024
CHUNK = 64 * 1024


class CommonMiddleware(common.CommonMiddleware):
    """Django's CommonMiddleware, whose hooks run on the event loop under ASGI.

    ``MiddlewareMixin.__acall__`` sends ``process_request`` and ``process_response`` each
    through ``sync_to_async``: two thread hops per request. Here both only read settings and
    headers and set Content-Length (no I/O), so the async path calls them directly. The sync
    path is Django's own.
    """

    async def __acall__(self, request):
        response = self.process_request(request)
        response = response or await self.get_response(request)
        return self.process_response(request, response)


class BodySizeLimitMiddleware:
    """413 from the Content-Length header alone, before any view or parser runs.

    Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only when `request.body` is read,
    and DRF's JSON parser reads the stream instead, so the limit is checked here.
    Sync and async capable, so the ASGI variant pays no thread hop for it.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def declared_length(self, request) -> int:
        try:
            return int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 0

    def refuse(self, request, length: int):
        if length <= DISCARD_MAX_BYTES:
            while request.read(CHUNK):
                pass
        return error_response(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        length = self.declared_length(request)
        if length > self.limit:
            return self.refuse(request, length)
        return self.get_response(request)

    async def __acall__(self, request):
        # Under ASGI Django has already received the whole body; discarding it is a memory read.
        length = self.declared_length(request)
        if length > self.limit:
            return self.refuse(request, length)
        return await self.get_response(request)


class ASGIBodySizeLimit:
    """The same 413, as ASGI middleware in front of Django's ASGI handler.

    Django's ASGIHandler receives the whole body before any Django middleware
    runs, so under ASGI the Content-Length check has to happen out here.
    """

    def __init__(self, app, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.declared_length(scope) > self.limit:
            body = b'{"detail":"Request Entity Too Large"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    @staticmethod
    def declared_length(scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0
