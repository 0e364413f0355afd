"""Serializers: the ChatMessage representation and the history query parameters."""

from __future__ import annotations

from rest_framework import serializers

from .models import ChatMessage

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
# Always six fractional digits and a Z (isoformat() drops them when microsecond == 0).
RFC3339_UTC = "%Y-%m-%dT%H:%M:%S.%fZ"


class StrictCharField(serializers.CharField):
    """A CharField that accepts only JSON strings.

    DRF's CharField coerces numbers (`5` becomes `"5"`); the contract rejects
    any non-string. Whitespace is kept as sent. DRF's default validators already
    refuse NUL characters (Postgres text cannot hold them) and lone surrogates.
    """

    default_error_messages = {"string_type": "Input should be a valid string."}

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("string_type")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """A ChoiceField that accepts only JSON strings (DRF compares str(value))."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class ChatMessageSerializer(serializers.ModelSerializer):
    role = StrictChoiceField(choices=ChatMessage.Role.choices)
    content = StrictCharField(min_length=1, max_length=32768)
    session_id = StrictCharField(min_length=1, max_length=64)
    created_at = serializers.DateTimeField(read_only=True, format=RFC3339_UTC)

    class Meta:
        model = ChatMessage
        fields = ["id", "role", "content", "session_id", "created_at"]
        read_only_fields = ["id", "created_at"]


class HistoryQuerySerializer(serializers.Serializer):
    """Query parameters of `GET /api/chat/messages` (a session's history page)."""

    session_id = StrictCharField(min_length=1, max_length=64)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    # Any bigint is a valid cursor; outside that range the value could not be
    # compared with a bigint column, so it is a client error, not a 500.
    after_id = serializers.IntegerField(min_value=BIGINT_MIN, max_value=BIGINT_MAX, default=0)
