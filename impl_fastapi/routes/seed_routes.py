"""``seed`` style: ``async def`` endpoints calling a *sync* Session (psycopg 3).

This is the pattern from the write-up that started chatbench, kept on purpose so its cost can be
measured: every query (and, with the cache on, every Redis call) blocks the event loop, so a
worker serves one database round trip at a time. Do not copy it; use ``async_routes`` (async
session) or ``sync_routes`` (``def`` endpoints in the threadpool) instead.

Only the routing lives here: each endpoint awaits nothing and calls the same ``blocking`` body
as the ``sync`` style, directly on the event loop (that call is what blocks it).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from impl_fastapi import openapi
from impl_fastapi.cache import SyncCacheDep
from impl_fastapi.db import SessionDep
from impl_fastapi.routes import blocking
from impl_fastapi.routes.common import PREFIX, HistoryQueryDep, MessageIdDep
from impl_fastapi.schemas import ChatMessageCreate, ChatMessageOut

router = APIRouter(prefix=PREFIX, tags=["messages"])


@router.post("", **openapi.CREATE)
@router.post("/", status_code=201, include_in_schema=False)
async def create_message(
    data: ChatMessageCreate, session: SessionDep, cache: SyncCacheDep
) -> ChatMessageOut:
    return blocking.create_message(session, cache, data)  # blocks the event loop


@router.get("", **openapi.HISTORY)
@router.get("/", include_in_schema=False)
async def list_messages(
    query: HistoryQueryDep, session: SessionDep, cache: SyncCacheDep
) -> list[ChatMessageOut]:
    return blocking.list_messages(session, cache, query)  # blocks the event loop


@router.get("/{message_id}", **openapi.READ)
@router.get("/{message_id}/", include_in_schema=False)
async def read_message(
    message_id: MessageIdDep, session: SessionDep, cache: SyncCacheDep
) -> ChatMessageOut:
    return blocking.read_message(session, cache, message_id)  # blocks the event loop


@router.delete("/{message_id}", **openapi.DELETE)
@router.delete("/{message_id}/", status_code=204, include_in_schema=False)
async def delete_message(
    message_id: MessageIdDep, session: SessionDep, cache: SyncCacheDep
) -> Response:
    return blocking.delete_message(session, cache, message_id)  # blocks the event loop
