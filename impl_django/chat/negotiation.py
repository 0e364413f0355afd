"""JSON in, JSON out: the parser, renderer and content negotiation of the chat API.

The FastAPI service answers with ORJSONResponse and parses any body whose
Content-Type is JSON (or absent) while ignoring Accept; these classes make DRF
behave the same so both services give byte-equal success bodies.
"""

from __future__ import annotations

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


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; also turns pathological nesting into a parse error, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nesting too deep") from None


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
