"""Endpoint bodies on a *sync* Session and cache, shared by the ``sync`` and ``seed`` styles.

The two styles run exactly this code and differ only in where it runs: ``sync_routes`` calls it
from ``def`` endpoints (FastAPI's threadpool), ``seed_routes`` from ``async def`` endpoints (on
the event loop, which it blocks). Keeping one copy means a measured difference between them is
the serving model and nothing else. Each function returns what the endpoint returns (a model,
or ``json_bytes`` for cached bytes) or raises the endpoint's ``HTTPException``.
"""

from __future__ import annotations

from fastapi import HTTPException, Response
from sqlalchemy.orm import Session

from impl_fastapi import queries
from impl_fastapi.cache import SyncMessageCache, message_key
from impl_fastapi.routes.common import json_bytes
from impl_fastapi.schemas import (
    ChatMessageCreate,
    ChatMessageOut,
    HistoryQuery,
    message_json,
    messages_json,
)


def create_message(
    session: Session, cache: SyncMessageCache | None, data: ChatMessageCreate
) -> ChatMessageOut:
    message = session.scalar(queries.insert_message(data))
    session.commit()
    if cache is not None:
        cache.message_created(data.session_id)
    return ChatMessageOut.model_validate(message)


def list_messages(
    session: Session, cache: SyncMessageCache | None, query: HistoryQuery
) -> list[ChatMessageOut] | Response:
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


def read_message(
    session: Session, cache: SyncMessageCache | None, message_id: int
) -> ChatMessageOut | Response:
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


def delete_message(session: Session, cache: SyncMessageCache | None, message_id: int) -> Response:
    deleted = session.execute(queries.delete_message(message_id)).first()
    session.commit()
    if deleted is None:
        raise HTTPException(status_code=404)
    if cache is not None:
        cache.message_deleted(message_id, deleted.session_id)
    return Response(status_code=204)
