"""``python -m impl_fastapi.serve``: run the service on uvicorn, configured from the environment."""

from __future__ import annotations

import uvicorn

from impl_fastapi.config import Settings
from impl_fastapi.limits import UvicornProtocol


def main() -> None:
    settings = Settings()
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
