"""``async`` style: ``async def`` endpoints, SQLAlchemy AsyncSession on asyncpg."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from impl_fastapi import openapi, queries
from impl_fastapi.cache import AsyncCacheDep, message_key
from impl_fastapi.db import AsyncSessionDep
from impl_fastapi.routes.common import PREFIX, HistoryQueryDep, MessageIdDep, json_bytes
from impl_fastapi.schemas import ChatMessageCreate, ChatMessageOut, message_json, messages_json

router = APIRouter(prefix=PREFIX, tags=["messages"])


@router.post("", **openapi.CREATE)
@router.post("/", status_code=201, include_in_schema=False)
async def create_message(
    data: ChatMessageCreate, session: AsyncSessionDep, cache: AsyncCacheDep
) -> ChatMessageOut:
    message = await session.scalar(queries.insert_message(data))
    await session.commit()
    if cache is not None:
        await cache.message_created(data.session_id)
    return ChatMessageOut.model_validate(message)


@router.get("", **openapi.HISTORY)
@router.get("/", include_in_schema=False)
async def list_messages(
    query: HistoryQueryDep, session: AsyncSessionDep, cache: AsyncCacheDep
) -> list[ChatMessageOut]:
    if cache is not None:
        key = await cache.history_key(query)
        if (hit := await cache.get(key)) is not None:
            return json_bytes(hit)
    rows = await session.scalars(queries.select_history(query))
    messages = [ChatMessageOut.model_validate(row) for row in rows]
    if cache is not None:
        await cache.put(key, body := messages_json(messages))
        return json_bytes(body)
    return messages


@router.get("/{message_id}", **openapi.READ)
@router.get("/{message_id}/", include_in_schema=False)
async def read_message(
    message_id: MessageIdDep, session: AsyncSessionDep, cache: AsyncCacheDep
) -> ChatMessageOut:
    if cache is not None and (hit := await cache.get(message_key(message_id))) is not None:
        return json_bytes(hit)
    row = await session.scalar(queries.select_message(message_id))
    if row is None:
        raise HTTPException(status_code=404)
    message = ChatMessageOut.model_validate(row)
    if cache is not None:
        await cache.put(message_key(message_id), body := message_json(message))
        return json_bytes(body)
    return message


@router.delete("/{message_id}", **openapi.DELETE)
@router.delete("/{message_id}/", status_code=204, include_in_schema=False)
async def delete_message(
    message_id: MessageIdDep, session: AsyncSessionDep, cache: AsyncCacheDep
) -> Response:
    deleted = (await session.execute(queries.delete_message(message_id))).first()
    await session.commit()
    if deleted is None:
        raise HTTPException(status_code=404)
    if cache is not None:
        await cache.message_deleted(message_id, deleted.session_id)
    return Response(status_code=204)
