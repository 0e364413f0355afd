"""Serve the Django project over ASGI with uvicorn (the `django-async` variant).

    python -m impl_django.serve_asgi

Same environment as the gunicorn config; workers default to the CPU count, as
for the FastAPI service on uvicorn.
"""

from __future__ import annotations

import os

import uvicorn

from impl_django import env
from impl_django.uvicorn_protocol import UvicornProtocol


def main() -> None:
    os.environ.setdefault("CHATBENCH_SERVER", "asgi")
    env.refuse_bad_launch()
    workers = env.workers()
    # Worker processes size their connection pool from this.
    os.environ["CHATBENCH_WORKERS"] = str(workers)
    uvicorn.run(
        "impl_django.project.asgi:application",
        host=env.host(),
        port=env.port(),
        workers=workers,
        loop="uvloop",
        http=UvicornProtocol,  # httptools, with the JSON 414 (chat/limits.py)
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=5,
    )


if __name__ == "__main__":
    main()
