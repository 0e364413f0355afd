"""JSON in, JSON out: the parser, renderer and content negotiation of the chat API.

The FastAPI service answers with ORJSONResponse and parses any body whose
Content-Type is JSON (or absent) while ignoring Accept; these classes make DRF
behave the same so both services give byte-equal success bodies.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from rest_framework import exceptions, parsers, renderers
from rest_framework.negotiation import BaseContentNegotiation


class ORJSONRenderer(renderers.BaseRenderer):
    """Compact JSON, non-ASCII emitted as raw UTF-8: the bytes orjson gives FastAPI."""

    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data)


class JSONParseError(exceptions.ParseError):
    """A body that is not JSON; ``position`` is where decoding stopped (0 when unknown)."""

    def __init__(self, position: int) -> None:
        super().__init__("JSON decode error")
        self.position = position


class JSONParser(parsers.JSONParser):
    """Parses exactly as FastAPI does, so both services accept and refuse the same bodies.

    That is ``json.loads`` on the raw bytes: the encoding is detected from the bytes (a UTF-8
    BOM is allowed, a ``charset`` parameter is ignored), ``NaN``/``Infinity`` are numbers, and
    a failure reports its position (``loc: ["body", pos]``). DRF's own parser decodes with the
    declared charset and refuses NaN. Anything that is not a decode error (invalid UTF-8,
    digits past Python's limit, nesting past the recursion limit) is position 0, as in FastAPI.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise JSONParseError(exc.pos) from None
        except (ValueError, RecursionError):
            raise JSONParseError(0) from None


class JSONOnlyNegotiation(BaseContentNegotiation):
    """Always answer JSON; parse a body as JSON when its Content-Type is JSON or missing.

    A non-JSON Content-Type gets no parser, which DRF reports as 415 and the
    exception handler turns into the contract's 422 for the body.
    """

    def select_parser(self, request, parsers):
        media_type = request.content_type.split(";", 1)[0].strip().lower()
        if not media_type:
            return parsers[0]
        main, _, sub = media_type.partition("/")
        if main == "application" and (sub == "json" or sub.endswith("+json")):
            return parsers[0]
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
