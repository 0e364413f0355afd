"""Serializers: the ChatMessage representation and the history query parameters."""

from __future__ import annotations

import re

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from rest_framework import serializers

from .models import ChatMessage

BIGINT_MAX = 2**63 - 1
# The one spelling of an integer in a query string, the same rule as the FastAPI service's:
# an optional minus and ASCII digits, nothing else (no "+", spaces, "_", ".0" or other digits).
QUERY_INTEGER = re.compile(r"-?[0-9]+")
# Always six fractional digits and a Z (isoformat() drops them when microsecond == 0).
RFC3339_UTC = "%Y-%m-%dT%H:%M:%S.%fZ"


class ProhibitNul(RegexValidator):
    """Django's NUL check (Postgres text cannot hold NUL), published as the field's ``pattern``.

    drf-spectacular turns a RegexValidator's regex into the field's JSON-schema ``pattern``
    (here ``^[^\\u0000]*$``, the same string as the FastAPI document's); the check itself stays
    Django's substring test, with its message and code (exceptions.py names it ``string_nul``).
    """

    regex = r"^[^\x00]*\Z"
    check = ProhibitNullCharactersValidator()

    def __call__(self, value) -> None:
        self.check(value)


class StrictCharField(serializers.CharField):
    """A CharField that accepts only JSON strings.

    DRF's CharField coerces numbers (`5` becomes `"5"`); the contract rejects
    any non-string. Whitespace is kept as sent. DRF's default validators already
    refuse NUL characters (Postgres text cannot hold them; here through ``ProhibitNul``, so the
    OpenAPI document states it) and lone surrogates.
    """

    default_error_messages = {"string_type": "Input should be a valid string."}

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators = [
            ProhibitNul() if isinstance(v, ProhibitNullCharactersValidator) else v
            for v in self.validators
        ]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("string_type")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """A ChoiceField that accepts only JSON strings (DRF compares str(value)).

    Its message does not echo the input: DRF's ``"{input}" is not a valid choice`` put a lone
    surrogate (``"\\ud800"``) into the response, which the JSON renderer refuses: a 500.
    """

    default_error_messages = {"invalid_choice": "Input should be 'user', 'assistant' or 'system'"}

    def validate_empty_values(self, data):
        # null is "not one of the choices", as on the FastAPI side, not "may not be null".
        if data is None:
            self.fail("invalid_choice", input=data)
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter under the shared ``QUERY_INTEGER`` rule.

    DRF's IntegerField also takes "5.", "٥" and anything ``int()`` takes, pydantic takes
    other odd forms ("1_0", "0-3"); one explicit rule in both services makes them agree.
    Digits past bigint become a value just past it, so the range check answers (and
    ``int()`` never meets its 4300-digit limit).
    """

    def to_internal_value(self, data):
        if not isinstance(data, str) or not QUERY_INTEGER.fullmatch(data):
            self.fail("invalid")
        negative = data.startswith("-")
        digits = data.lstrip("-").lstrip("0") or "0"
        if len(digits) > len(str(BIGINT_MAX)):
            return -(BIGINT_MAX + 1) if negative else BIGINT_MAX + 1
        return -int(digits) if negative else int(digits)


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
    limit = QueryIntegerField(min_value=1, max_value=200, default=50)
    # A cursor is an id (0 = from the start); past bigint it could not be compared with
    # the bigint column, so it is a client error, not a 500.
    after_id = QueryIntegerField(min_value=0, max_value=BIGINT_MAX, default=0)
