"""The notes API: create a note, read one, list the newest, health."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db import connection
from django.http import Http404
from ninja import Field, NinjaAPI, Path, Query, Schema
from ninja.errors import HttpError
from ninja.parser import Parser

from notes_django.models import Note

MAX_ID = 2**63 - 1
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL


class NotJSON(ValueError):
    """A body whose Content-Type is not JSON, or whose text is not."""


class JSONBodies(Parser):
    """As FastAPI reads a body: JSON when its Content-Type says so or says nothing; a body that
    is not JSON is invalid input (422), one that is not even text cannot be read (400)."""

    def parse_body(self, request):
        kind = request.content_type.lower()
        is_json = kind == "application/json" or (
            kind.startswith("application/") and kind.endswith("+json")
        )
        if kind and not is_json:
            raise NotJSON(f"a body of type {kind} is not JSON")
        try:
            data = json.loads(request.body)
        except json.JSONDecodeError as exc:
            raise NotJSON(str(exc)) from None
        if not isinstance(data, dict):
            # Ninja would build a note from any object's attributes: from a JSON string, a note
            # titled str.title() of it (found by chatbench verify --contract openapi).
            raise NotJSON("a note is a JSON object")
        return data


api = NinjaAPI(
    title="notes", version="1", openapi_url="/openapi.json", docs_url="/docs", parser=JSONBodies()
)


class Invalid(Schema):
    detail: list[dict[str, Any]]


@api.exception_handler(HttpError)
def unreadable_body(request, exc: HttpError):
    # Ninja answers every body it cannot parse with 400; FastAPI only one that is not text.
    if exc.status_code == 400 and isinstance(exc.__cause__, NotJSON):
        detail = [{"type": "json_invalid", "loc": ["body"], "msg": str(exc.__cause__)}]
        return api.create_response(request, {"detail": detail}, status=422)
    if exc.status_code == 400:
        return api.create_response(
            request, {"detail": "There was an error parsing the body"}, status=400
        )
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


class NoteIn(Schema):
    title: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    body: str = Field("", max_length=10_000, pattern=NO_NUL)


class NoteOut(Schema):
    id: int
    title: str
    body: str
    created_at: datetime


class Message(Schema):
    detail: str


@api.post("/notes", response={201: NoteOut, 400: Message, 422: Invalid})
def create_note(request, note: NoteIn):
    return 201, Note.objects.create(title=note.title, body=note.body)


@api.get("/notes/{note_id}", response={200: NoteOut, 404: Message, 422: Invalid})
def read_note(request, note_id: int = Path(..., ge=1, le=MAX_ID)):
    try:
        return Note.objects.get(pk=note_id)
    except Note.DoesNotExist:
        raise Http404 from None


@api.get("/notes", response={200: list[NoteOut], 422: Invalid})
def list_notes(request, limit: int = Query(20, ge=1, le=100)):
    return list(Note.objects.order_by("-id")[:limit])


@api.get("/health", response=Message)
def health(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"detail": "ok"}
