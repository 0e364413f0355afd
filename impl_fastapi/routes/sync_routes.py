"""``sync`` style: plain ``def`` endpoints (FastAPI runs them in its threadpool), sync Session on
psycopg 3."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from impl_fastapi import queries
from impl_fastapi.cache import SyncCacheDep, message_key
from impl_fastapi.db import SessionDep
from impl_fastapi.routes.common import PREFIX, HistoryQueryDep, MessageIdDep, json_bytes
from impl_fastapi.schemas import ChatMessageCreate, ChatMessageOut, message_json, messages_json

router = APIRouter(prefix=PREFIX, tags=["messages"])


@router.post("", status_code=201)
@router.post("/", status_code=201, include_in_schema=False)
def create_message(
    data: ChatMessageCreate, session: SessionDep, cache: SyncCacheDep
) -> ChatMessageOut:
    message = session.scalar(queries.insert_message(data))
    session.commit()
    if cache is not None:
        cache.message_created(data.session_id)
    return ChatMessageOut.model_validate(message)


@router.get("")
@router.get("/", include_in_schema=False)
def list_messages(
    query: HistoryQueryDep, session: SessionDep, cache: SyncCacheDep
) -> list[ChatMessageOut]:
    if cache is not None:
        key = cache.history_key(query)
        if (hit := cache.get(key)) is not None:
            return json_bytes(hit)
    rows = session.scalars(queries.select_history(query))
    messages = [ChatMessageOut.model_validate(row) for row in rows]
    if cache is not None:
        cache.put(key, body := messages_json(messages))
        return json_bytes(body)
    return messages


@router.get("/{message_id}")
@router.get("/{message_id}/", include_in_schema=False)
def read_message(
    message_id: MessageIdDep, session: SessionDep, cache: SyncCacheDep
) -> ChatMessageOut:
    if cache is not None and (hit := cache.get(message_key(message_id))) is not None:
        return json_bytes(hit)
    row = session.scalar(queries.select_message(message_id))
    if row is None:
        raise HTTPException(status_code=404)
    message = ChatMessageOut.model_validate(row)
    if cache is not None:
        cache.put(message_key(message_id), body := message_json(message))
        return json_bytes(body)
    return message


@router.delete("/{message_id}", status_code=204)
@router.delete("/{message_id}/", status_code=204, include_in_schema=False)
def delete_message(message_id: MessageIdDep, session: SessionDep, cache: SyncCacheDep) -> Response:
    deleted = session.execute(queries.delete_message(message_id)).first()
    session.commit()
    if deleted is None:
        raise HTTPException(status_code=404)
    if cache is not None:
        cache.message_deleted(message_id, deleted.session_id)
    return Response(status_code=204)
