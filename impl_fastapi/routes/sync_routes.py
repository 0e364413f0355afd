"""``sync`` style: plain ``def`` endpoints (FastAPI runs them in its threadpool), sync Session on
psycopg 3. Only the routing lives here; the bodies are ``blocking``'s, shared with ``seed``."""

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
def create_message(
    data: ChatMessageCreate, session: SessionDep, cache: SyncCacheDep
) -> ChatMessageOut:
    return blocking.create_message(session, cache, data)


@router.get("", **openapi.HISTORY)
@router.get("/", include_in_schema=False)
def list_messages(
    query: HistoryQueryDep, session: SessionDep, cache: SyncCacheDep
) -> list[ChatMessageOut]:
    return blocking.list_messages(session, cache, query)


@router.get("/{message_id}", **openapi.READ)
@router.get("/{message_id}/", include_in_schema=False)
def read_message(
    message_id: MessageIdDep, session: SessionDep, cache: SyncCacheDep
) -> ChatMessageOut:
    return blocking.read_message(session, cache, message_id)


@router.delete("/{message_id}", **openapi.DELETE)
@router.delete("/{message_id}/", status_code=204, include_in_schema=False)
def delete_message(message_id: MessageIdDep, session: SessionDep, cache: SyncCacheDep) -> Response:
    return blocking.delete_message(session, cache, message_id)
