"""Request body size limit: 413 for bodies over 1 MiB, before the body is read."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1_048_576  # 1 MiB, same limit as the Django service
TOO_LARGE_DETAIL = "Request Entity Too Large"


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
