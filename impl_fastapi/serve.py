"""``python -m impl_fastapi.serve``: run the service on uvicorn (or, with CHATBENCH_SERVER=granian,
on granian over ASGI), configured from the environment."""

from __future__ import annotations

import uvicorn

from impl_fastapi import config
from impl_fastapi.config import Settings
from impl_fastapi.limits import UvicornProtocol

# The head limits are the application's (limits.py: JSON 414 and 431), so granian's own
# request-head buffer must not answer first (uvicorn's httptools has no header limit).
GRANIAN_HEAD_BUFFER_BYTES = 2 * 1_048_576


def serve_granian(settings: Settings) -> None:
    """The ``server=granian`` axis value: the app on granian's ASGI interface, one worker per
    core as on uvicorn, HTTP/1.1 with keep-alive."""
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        "impl_fastapi.main:app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(keep_alive=True, max_buffer_size=GRANIAN_HEAD_BUFFER_BYTES),
        websockets=False,
        log_level=LogLevels.warning,
        log_access=False,
    ).serve()


def main() -> None:
    settings = config.load()
    if settings.server == "granian":
        serve_granian(settings)
        return
    uvicorn.run(
        "impl_fastapi.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_level="warning",
        loop="uvloop",
        http=UvicornProtocol,  # httptools, with the JSON 414 (limits.py)
        timeout_keep_alive=5,
    )


if __name__ == "__main__":
    main()
