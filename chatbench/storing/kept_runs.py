"""Where a measurement script keeps the runs it makes (``scripts/slo_repeat.py``,
``scripts/steady_state.py``): a directory of its own, so that a run is never lost to a failure and
never mixed with an earlier script's runs.

A directory that already holds something is refused: the script would read back a run it did
not make (``steady_state`` takes the one run directory it finds) or overwrite one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from chatbench.errors import UsageError


def keep_directory(given: Path | None, root: Path, now: dt.datetime) -> Path:
    """``given`` when it is new or empty (UsageError when it holds anything or is a file);
    without ``given``, ``root/<UTC time to the second>``."""
    if given is not None:
        if given.exists() and (not given.is_dir() or any(given.iterdir())):
            what = "holds runs already" if given.is_dir() else "is a file"
            raise UsageError(f"--keep {given} {what}; give a new or empty directory")
        return given
    return root / now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
