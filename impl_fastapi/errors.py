"""Exception handlers: every error is JSON, and nothing a client sends becomes a 500.

Shapes (shared with the Django service):
- 422 ``{"detail": [{"type", "loc", "msg", "input", ["ctx"]}, ...]}``: FastAPI's own validation
  errors, for bodies and query strings;
- 404 / 405 / 413 / 414 / 431 / 503 ``{"detail": "<HTTP reason phrase>"}`` (413, 414 and 431 from
  limits.py, before any route runs).

FastAPI's defaults are kept except where a client could otherwise get something else:
- the 422 body echoes the client's input, which may hold what ``json.dumps`` refuses (lone
  surrogates from ``"\\ud800"`` escapes, ``NaN``); those are written escaped / as ``null``;
- a body that fails to parse without a ``JSONDecodeError`` (invalid UTF-8, an integer past
  Python's 4300-digit limit, nesting past the recursion limit) is FastAPI's 400 "There was an
  error parsing the body"; the contract says 422 "bad JSON", so it gets the ``json_invalid``
  shape FastAPI uses for malformed JSON;
- a database that cannot be reached is 503, not 500;
- a 405's ``Allow`` lists every method the path answers (``GET, POST`` on the collection, like
  the Django service), not only the methods of the first route Starlette matched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

BODY_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's wording, routing.py
# Django's order (View.http_method_names), so both services send the same Allow header.
METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def render_json(content: Any) -> bytes:
    """Compact UTF-8 JSON like Starlette's JSONResponse, falling back to a form that always works."""
    try:
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()
    except (UnicodeEncodeError, ValueError):
        return json.dumps(_finite(content), ensure_ascii=True, separators=(",", ":")).encode()


def json_error(status_code: int, content: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        render_json(content),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    try:
        detail = jsonable_encoder(errors)
    except RecursionError:  # an absurdly nested input echoed back: drop the echo, keep the error
        detail = jsonable_encoder([{k: v for k, v in e.items() if k != "input"} for e in errors])
    return json_error(422, {"detail": detail})


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
        cause = exc.__cause__
        error = {
            "type": "json_invalid",
            "loc": ["body", 0],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": str(cause) if cause else "Invalid body"},
        }
        return json_error(422, {"detail": [error]})
    if exc.status_code == 405:
        exc = HTTPException(405, exc.detail, headers={"Allow": allowed_methods(request)})
    return await http_exception_handler(request, exc)


async def database_unavailable_handler(request: Request, exc: Exception) -> Response:
    return json_error(503, {"detail": "Service Unavailable"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    for exc_class in (OperationalError, InterfaceError, OSError):
        app.add_exception_handler(exc_class, database_unavailable_handler)


def allowed_methods(request: Request) -> str:
    """Every method of every route whose path matches the request's: Starlette's own 405 names
    only the route it matched first (``POST`` alone on the collection, which GET also serves)."""
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(method for method in METHOD_ORDER if method in methods)


def _leaf_routes(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    # FastAPI keeps an included router as one entry (its ``original_router`` holds the routes,
    # their paths already prefixed); the service includes its routers without a prefix.
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is None:
            yield route
        else:
            yield from _leaf_routes(included.routes)
