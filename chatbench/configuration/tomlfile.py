"""Reading the project's TOML files and turning pydantic's complaints into one sentence.

Profiles, suites, workload files, variant files and ``chatbench.toml`` are TOML validated by
pydantic models. A mistake in any of them stops the command before anything starts, with one
sentence that names the file and the key (``UsageError``, exit 2): that sentence is made here,
so every file reports the same way.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chatbench.errors import UsageError


def read(path: Path, what: str) -> dict[str, Any]:
    """The TOML document at ``path``; ``what`` names the kind of file in the sentence."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise UsageError(f"{what} {path} cannot be read: {reason}.") from None
    return parse(text, f"{what} {path}")


def parse(text: str, where: str) -> dict[str, Any]:
    """The TOML document in ``text``; ``where`` names it in the sentence."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where} is not valid TOML ({exc}).") from None


def key_path(loc: Iterable[object]) -> str:
    """pydantic's error location as the dotted key a user wrote (``requests.0.method`` → the
    first request's ``method``), without pydantic's own markers for unions and dict keys."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or "(" in p))]
    return ".".join(parts) or "(top level)"


def sentence(
    where: str, exc: ValidationError, known: Iterable[str] = (), *, table: str = ""
) -> UsageError:
    """One sentence for the first thing pydantic refused: the file (``where``), the key (inside
    ``table``, when the model read one table of the file), why."""
    error = exc.errors()[0]
    key = ".".join(filter(None, (table, key_path(error["loc"]))))
    if error["type"] == "extra_forbidden":
        names = sorted(known)
        listed = f"; known keys: {', '.join(names)}" if names else ""
        return UsageError(f"{where}: unknown key {key!r}{listed}.")
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message[0].lower() + message[1:] if message else "invalid value"
    return UsageError(f"{where}: key {key}: {message.rstrip('.')}.")
