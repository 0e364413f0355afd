"""Serve the Django project on granian: WSGI for the sync views, ASGI for the async ones.

    python -m impl_django.serve_granian

The ``server=granian`` axis value (the FastAPI service has the same, impl_fastapi/serve.py), so
a suite can hold the HTTP server constant across frameworks. Same environment as the gunicorn
config; workers default to the CPU count (granian's docs: one worker per core), each WSGI worker
running the views on ``CHATBENCH_THREADS`` blocking threads, as a gthread worker does. The
application objects are the ones gunicorn and uvicorn serve, with the same head and body limits.
"""

from __future__ import annotations

import os

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server

from impl_django import env

# The head limits are the application's (chat/limits.py: JSON 414 and 431 past 8 KiB), so
# granian's own request-head buffer must not answer first: gunicorn lets header fields grow to
# 1 MiB (gunicorn_conf.py), and so does this.
HEAD_BUFFER_BYTES = 2 * 1_048_576
KEEP_ALIVE = HTTP1Settings(keep_alive=True, max_buffer_size=HEAD_BUFFER_BYTES)


def main() -> None:
    os.environ.setdefault("CHATBENCH_SERVER", "granian")
    env.refuse_bad_launch()
    workers = env.workers()
    # Worker processes size their connection pool from this.
    os.environ["CHATBENCH_WORKERS"] = str(workers)
    is_asgi = env.asgi()
    module = "asgi" if is_asgi else "wsgi"
    Server(
        f"impl_django.project.{module}:application",
        address=env.host(),
        port=env.port(),
        # Django has no lifespan protocol (serve_asgi.py turns it off for uvicorn too).
        interface=Interfaces.ASGINL if is_asgi else Interfaces.WSGI,
        workers=workers,
        blocking_threads=None if is_asgi else env.threads(),
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        http1_settings=KEEP_ALIVE,
        websockets=False,
        log_level=LogLevels.warning,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
