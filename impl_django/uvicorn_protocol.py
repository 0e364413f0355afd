"""The HTTP protocol uvicorn runs the Django ASGI application with (serve_asgi.py).

Not in chat/limits.py, which gunicorn's workers import too: only the uvicorn server needs uvicorn.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from impl_django.chat.limits import MAX_TARGET_BYTES, error_body


class UvicornProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (``uvicorn.run(http=...)``), answering a request target too
    long for httptools' URL parser (over 65535 bytes) as chat/limits.py answers any target over
    ``MAX_TARGET_BYTES``: a JSON 414, not uvicorn's plain-text 400 (kept for every other request
    it cannot parse). impl_fastapi/limits.py holds the same class for the other service."""

    def send_400_response(self, msg: str) -> None:
        if len(getattr(self, "url", b"")) <= MAX_TARGET_BYTES:
            super().send_400_response(msg)
            return
        body = error_body(414)
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
