"""python -m notes_fastapi.serve: create the table if it is missing, then serve on uvicorn at
CHATBENCH_HOST:CHATBENCH_PORT with CHATBENCH_WORKERS worker processes."""

from __future__ import annotations

import os

import psycopg
import uvicorn

from notes_fastapi.app import CREATE_TABLE


def main() -> None:
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute(CREATE_TABLE)
    uvicorn.run(
        "notes_fastapi.app:app",
        host=os.environ["CHATBENCH_HOST"],
        port=int(os.environ["CHATBENCH_PORT"]),
        workers=int(os.environ.get("CHATBENCH_WORKERS", "1")),
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
