"""The notes API, ported: create a note, read one, list the newest, health."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import create_engine, text

MAX_ID = 2**63 - 1
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
CREATE_TABLE = """CREATE TABLE IF NOT EXISTS notes (
    id bigserial PRIMARY KEY, title varchar(200) NOT NULL, body text NOT NULL,
    created_at timestamp with time zone NOT NULL)"""


def _engine_url() -> str:
    url = os.environ["DATABASE_URL"]
    return "postgresql+psycopg://" + url.split("://", 1)[1]


engine = create_engine(_engine_url(), pool_size=int(os.environ.get("NOTES_POOL", "5")))
app = FastAPI(title="notes", version="1")


class NoteIn(BaseModel):
    title: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    body: str = Field("", max_length=10_000, pattern=NO_NUL)


class NoteOut(BaseModel):
    id: int
    title: str
    body: str
    created_at: datetime


class Message(BaseModel):
    detail: str


# 400: a body that is not even text (FastAPI's own answer, documented here).
@app.post("/notes", status_code=201, response_model=NoteOut, responses={400: {"model": Message}})
def create_note(note: NoteIn) -> dict:
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "INSERT INTO notes (title, body, created_at) VALUES (:title, :body, now()) "
                "RETURNING id, title, body, created_at"
            ),
            {"title": note.title, "body": note.body},
        ).one()
    return dict(row._mapping)


@app.get("/notes/{note_id}", response_model=NoteOut, responses={404: {"model": Message}})
def read_note(note_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT id, title, body, created_at FROM notes WHERE id = :id"), {"id": note_id}
        ).one_or_none()
    if row is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return dict(row._mapping)


@app.get("/notes", response_model=list[NoteOut])
def list_notes(limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, title, body, created_at FROM notes ORDER BY id DESC LIMIT :n"),
            {"n": limit},
        )
        return [dict(r._mapping) for r in rows]


@app.get("/health", response_model=Message)
def health() -> dict:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"detail": "ok"}
