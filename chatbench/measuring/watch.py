"""Who watches a run, and where tests reach into it.

``Progress`` is what a run tells its watcher (the CLI draws it with rich); ``RunHooks`` are
the fault-injection points tests use (a lost write, a killed service), called from the run's
own thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Progress(Protocol):
    """What the run tells whoever is watching."""

    def phase(self, text: str) -> None: ...

    def advance(self, seconds: float) -> None: ...


class Silent:
    """A watcher that hears nothing (the default)."""

    def phase(self, text: str) -> None:
        pass

    def advance(self, seconds: float) -> None:
        pass


@dataclass(frozen=True)
class RunHooks:
    """Extension points for tests (fault injection), called from the run's own thread.

    ``after_clone(variant, repetition, database_url)``: before the identical-data check.
    ``during_load(variant, repetition, server_pid, elapsed_s)``: about twice a second while
    Locust runs (``server_pid`` is None for a ``--target`` run).
    ``after_load(variant, repetition, database_url)``: after the load, before the integrity
    check (``database_url`` is None for a ``--target`` run without ``--database-url``).
    """

    after_clone: Callable[[str, int, str], None] | None = None
    during_load: Callable[[str, int, int | None, float], None] | None = None
    after_load: Callable[[str, int, str | None], None] | None = None
