"""Service settings, read from the environment (names and defaults: docs/interfaces.md)."""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

RouteStyle = Literal["async", "sync", "seed"]
PoolMode = Literal["none", "persistent", "pool"]
ServerName = Literal["uvicorn", "granian"]
GcMode = Literal["default", "freeze", "threshold"]  # as gcpauses.MODES


def cpu_count() -> int:
    """CPUs this process may run on (respects pinning, unlike ``os.cpu_count()``)."""
    return len(os.sched_getaffinity(0))


class Settings(BaseSettings):
    """Everything the service reads; unknown variables (e.g. ``CHATBENCH_THREADS``) are ignored."""

    model_config = SettingsConfigDict(
        env_prefix="CHATBENCH_", env_ignore_empty=True, extra="ignore", frozen=True
    )

    database_url: str = Field(validation_alias="DATABASE_URL")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # uvicorn's recommendation: one worker process per core.
    workers: int = Field(default_factory=cpu_count, ge=1)
    db_max_connections: int = Field(10, ge=1)
    db_pool: PoolMode = "persistent"
    cache_url: str = ""
    cache_ttl: int = Field(60, ge=1)
    fastapi_routes: RouteStyle = "async"
    server: ServerName = "uvicorn"  # the HTTP server serve.py runs the app on
    # Test-only regression injectors (see injectors.py); 0 = off.
    burn_us: int = Field(0, ge=0)
    # Extra SELECT 1 statements per API request on average: 0.5 is one on every other request.
    # Bounded as the Django service bounds it (an exact fraction of 1e-999999999 would not fit).
    extra_query: Decimal = Field(Decimal(0), ge=0, le=1000, decimal_places=6)
    # The gc runtime axis and the pause log (gcpauses.py); empty log: no hook.
    gc: GcMode = "default"
    gc_log: str = ""

    @field_validator("gc", mode="before")
    @classmethod
    def _gc_as_django_reads_it(cls, value: object) -> object:
        """Case and surrounding blanks ignored, blank = unset, as the Django service reads it."""
        return (value.strip().lower() or "default") if isinstance(value, str) else value

    @property
    def connections_per_worker(self) -> int:
        """Each worker's share of the service-wide connection cap (at least one)."""
        return max(1, self.db_max_connections // self.workers)


def load() -> Settings:
    """The settings, or exit 2 with one line per bad variable, named as the harness sets it
    (``CHATBENCH_EXTRA_QUERY: Input should be a valid decimal (got 'abc')``), not a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = "DATABASE_URL" if field == "DATABASE_URL" else f"CHATBENCH_{field.upper()}"
            sys.stderr.write(f"{name}: {error['msg']} (got {error.get('input')!r})\n")
        raise SystemExit(2) from None
