"""Pydantic schemas: request body, history query, response.

Validation is strict (``5`` is not coerced to ``"5"``) and rejects text PostgreSQL cannot store
(NUL characters, lone surrogates), so no client input reaches the database as an error: every
invalid value is a 422 naming its field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    field_serializer,
)
from pydantic_core import PydanticCustomError

BIGINT_MAX = 2**63 - 1  # ids are PostgreSQL bigint
CONTENT_MAX = 32768
SESSION_ID_MAX = 64
HISTORY_LIMIT_DEFAULT = 50
HISTORY_LIMIT_MAX = 200

Role = Literal["user", "assistant", "system"]


def storable_text(value: str) -> str:
    """Reject NUL, which PostgreSQL ``text`` cannot hold (lone surrogates, the other case,
    already fail pydantic's own ``string_unicode`` check)."""
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "String should not contain NUL characters")
    return value


Content = Annotated[
    StrictStr,
    StringConstraints(min_length=1, max_length=CONTENT_MAX),
    AfterValidator(storable_text),
]
SessionId = Annotated[
    StrictStr,
    StringConstraints(min_length=1, max_length=SESSION_ID_MAX),
    AfterValidator(storable_text),
]


class ChatMessageCreate(BaseModel):
    """``POST /api/chat/messages`` body; ``id`` and ``created_at`` are read-only, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore")

    role: Role
    content: Content
    session_id: SessionId


class HistoryQuery(BaseModel):
    """``GET /api/chat/messages`` query string."""

    model_config = ConfigDict(extra="ignore")

    session_id: SessionId
    limit: int = Field(HISTORY_LIMIT_DEFAULT, ge=1, le=HISTORY_LIMIT_MAX)
    after_id: int = Field(0, ge=0, le=BIGINT_MAX)


class ChatMessageOut(BaseModel):
    """A stored message; field order is the JSON key order both services emit."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    role: Role
    content: str
    session_id: str
    created_at: datetime

    @field_serializer("created_at")
    def _rfc3339_utc(self, value: datetime) -> str:
        # Always 6 fraction digits and "Z" (isoformat() drops zero microseconds and says +00:00).
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_MESSAGE_LIST = TypeAdapter(list[ChatMessageOut])


def message_json(message: ChatMessageOut) -> bytes:
    """The exact bytes FastAPI sends for a ``ChatMessageOut`` response (used by the cache)."""
    return message.__pydantic_serializer__.to_json(message)


def messages_json(messages: list[ChatMessageOut]) -> bytes:
    return _MESSAGE_LIST.dump_json(messages)
