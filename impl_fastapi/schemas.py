"""Pydantic schemas: request body, history query, response.

Validation is strict (``5`` is not coerced to ``"5"``) and rejects text PostgreSQL cannot store
(NUL characters, lone surrogates), so no client input reaches the database as an error: every
invalid value is a 422 naming its field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
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
# The one spelling of an integer in a query string, the same rule as the Django service's:
# an optional minus and ASCII digits, nothing else (no "+", spaces, "_", ".0" or other digits).
QUERY_INTEGER = re.compile(r"-?[0-9]+")


def query_integer(value: Any) -> Any:
    """Parse a query integer under ``QUERY_INTEGER``, before pydantic's own (lax) int parsing.

    pydantic alone takes "1_0", "5.0", " 5" and even "0-3" (as -3), DRF takes "5." and "٥";
    one explicit rule in both services makes them agree. Digits past bigint become a value
    just past it, so the range check answers (and ``int()`` never meets its digit limit).
    """
    if not isinstance(value, str):
        return value
    if not QUERY_INTEGER.fullmatch(value):
        raise PydanticCustomError(
            "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
        )
    negative = value.startswith("-")
    digits = value.lstrip("-").lstrip("0") or "0"
    if len(digits) > len(str(BIGINT_MAX)):
        return -(BIGINT_MAX + 1) if negative else BIGINT_MAX + 1
    return -int(digits) if negative else int(digits)


QueryInt = Annotated[int, BeforeValidator(query_integer)]


def storable_text(value: str) -> str:
    """Reject NUL, which PostgreSQL ``text`` cannot hold (lone surrogates, the other case,
    already fail pydantic's own ``string_unicode`` check)."""
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "String should not contain NUL characters")
    return value


# storable_text's rule as the JSON schema states it (ECMA-262 syntax; drf-spectacular derives the
# same string from the Django service's validator). Only documented: the check stays the plain
# substring test above, with its own error type.
NO_NUL_PATTERN = "^[^\\u0000]*$"
_NO_NUL = Field(json_schema_extra={"pattern": NO_NUL_PATTERN})

Content = Annotated[
    StrictStr,
    StringConstraints(min_length=1, max_length=CONTENT_MAX),
    AfterValidator(storable_text),
    _NO_NUL,
]
SessionId = Annotated[
    StrictStr,
    StringConstraints(min_length=1, max_length=SESSION_ID_MAX),
    AfterValidator(storable_text),
    _NO_NUL,
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
    limit: QueryInt = Field(HISTORY_LIMIT_DEFAULT, ge=1, le=HISTORY_LIMIT_MAX)
    # A cursor is an id (0 = from the start); past bigint it could not be compared with the
    # bigint column, so it is a client error, not a database error.
    after_id: QueryInt = Field(0, ge=0, le=BIGINT_MAX)


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
