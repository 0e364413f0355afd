"""Atomic writes: a reader (or a crash) never sees a half-written file.

Every file chatbench writes into a run directory, a baseline or a cross-check goes through a
temporary sibling, ``fsync`` and ``os.replace``. JSON is written sorted and indented, NaN as
null (:func:`json_safe`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf → null, numpy scalars → Python, tuples → lists, Paths → str."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same directory + os.replace,
    so a reader (or a crash) never sees a half-written file."""
    path = Path(path)
    with atomic_output(path, binary=False) as fh:
        fh.write(text)
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, binary: bool = True) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success fsync it and os.replace it
    onto ``path``, on failure remove it. Permissions follow the umask (unlike mkstemp's 0600),
    so results stay readable by the team."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    mode = "xb" if binary else "x"
    kwargs: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as sorted, indented JSON; NaN becomes null."""
    data = json_safe(obj)
    text = json.dumps(data, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False)
    return write_text_atomic(path, text + "\n")
