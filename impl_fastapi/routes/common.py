"""Request parsing shared by the three route styles."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import Response

from impl_fastapi.schemas import BIGINT_MAX, HistoryQuery

PREFIX = "/api/chat/messages"

HistoryQueryDep = Annotated[HistoryQuery, Query()]


async def message_id_path(request: Request) -> int:
    """The ``{message_id}`` path segment as an id; anything that is not one is a 404.

    Read from the path as a string, not declared as an ``int`` parameter: FastAPI answers a
    non-integer ``int`` path parameter with 422, and ``int()`` accepts ``" 7"``, ``"+7"``,
    ``"7_0"`` and non-ASCII digits. Values past bigint would overflow the driver; no such row can
    exist, so they are 404 too. The document states this rule (openapi.MESSAGE_ID).
    """
    message_id: str = request.path_params["message_id"]
    if message_id.isascii() and message_id.isdigit() and len(message_id) <= 19:
        value = int(message_id)
        if 0 < value <= BIGINT_MAX:
            return value
    raise HTTPException(status_code=404)


MessageIdDep = Annotated[int, Depends(message_id_path)]


def json_bytes(body: bytes, status_code: int = 200) -> Response:
    """A response from already-serialized JSON (a cache hit, or what is about to be cached)."""
    return Response(content=body, status_code=status_code, media_type="application/json")
