"""The SQL each endpoint runs, built once here and shared by all three route styles.

Every API request is exactly one statement (the engines run in autocommit, see db.py):
create = ``INSERT ... RETURNING``, history = one index range scan, detail = one primary-key
lookup, delete = ``DELETE ... RETURNING``.
"""

from __future__ import annotations

from sqlalchemy import Delete, Select, TextClause, delete, insert, select, text
from sqlalchemy.sql.dml import ReturningInsert

from impl_fastapi.models import ChatMessage
from impl_fastapi.schemas import ChatMessageCreate, HistoryQuery

SELECT_ONE: TextClause = text("SELECT 1")


def insert_message(data: ChatMessageCreate) -> ReturningInsert[tuple[ChatMessage]]:
    # RETURNING gives id and created_at in the same round trip: no refresh SELECT.
    return (
        insert(ChatMessage)
        .values(role=data.role, content=data.content, session_id=data.session_id)
        .returning(ChatMessage)
    )


def select_history(query: HistoryQuery) -> Select[tuple[ChatMessage]]:
    return (
        select(ChatMessage)
        .where(ChatMessage.session_id == query.session_id, ChatMessage.id > query.after_id)
        .order_by(ChatMessage.id)
        .limit(query.limit)
    )


def select_message(message_id: int) -> Select[tuple[ChatMessage]]:
    return select(ChatMessage).where(ChatMessage.id == message_id)


def delete_message(message_id: int) -> Delete:
    # session_id comes back too: the cache bumps that session's history version.
    return (
        delete(ChatMessage)
        .where(ChatMessage.id == message_id)
        .returning(ChatMessage.id, ChatMessage.session_id)
    )
