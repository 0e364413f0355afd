"""A Python environment for the base commit of ``chatbench check --base REF`` when its pins differ.

The base side's services run from a worktree of REF. When REF's ``requirements.lock`` is
byte-identical to the candidate's (or REF has none), they run in the current interpreter and
nothing is built. Otherwise REF's code may need other library versions than the candidate's, so
a virtual environment is built from REF's lock the way the Makefile builds ``.venv`` (``python
-m venv``, then ``pip install -c lock -r lock``), without the project itself: the services run
with the worktree as their working directory, so ``python -m impl_*`` imports REF's code. Only
the base services use it; the harness (Postgres, Locust, the check) stays in the candidate's.

Cache, keyed by the pins: the environment lives in ``<tmp>/chatbench-env-<sha256(lock)[:12]>/``
(``venv/`` plus a ``complete`` marker written after a successful install). Within one check
every round and both base variants share one build; a complete environment left by an earlier
check that was killed before it could clean up is reused instead of rebuilt (an incomplete one
is rebuilt). The directory is removed when the check ends, on success, failure or Ctrl-C, by
the last check still using it: each holds a shared ``flock`` on the directory while its
services run and removes it only when it can take that lock exclusively, so two checks with
the same pins running at once never pull the environment from under each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from chatbench.errors import UsageError, log_tail

LOCK_FILE = "requirements.lock"
ENV_PREFIX = "chatbench-env-"
MARKER = "complete"
BUILD_LOG = "build.log"

# builder(lock, venv_dir, log): create a venv at venv_dir with lock's pins, or raise UsageError.
Builder = Callable[[Path, Path, Path], None]


@dataclasses.dataclass(frozen=True)
class BaseEnv:
    """The interpreter the base services run with, and where it came from."""

    python: str
    pins_hash: str | None = None  # sha256 of the base's lock when an environment was built
    path: Path | None = None  # the built environment's directory; None = the current one

    @property
    def built(self) -> bool:
        return self.path is not None

    def note(self) -> str:
        """One sentence for the check's notes: which environment each side used."""
        if not self.built:
            return (
                "both sides ran in the candidate's Python environment "
                "(the base commit's requirements.lock is the same)"
            )
        return (
            f"the base commit's requirements.lock differs: its services ran in an environment "
            f"built from its pins (sha256 {self.pins_hash[:12]}); the head's services and the "
            "harness ran in the candidate's"
        )


def pins_hash(lock: Path) -> str:
    """The cache key: sha256 of the lock file's bytes."""
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def env_dir(digest: str, root: Path | None = None) -> Path:
    """Where the environment for pins with sha256 ``digest`` lives."""
    return Path(root or tempfile.gettempdir()) / f"{ENV_PREFIX}{digest[:12]}"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def pins_differ(repo: Path, tree: Path) -> bool:
    """Whether base ``tree`` pins other versions than candidate ``repo`` (no base lock: no)."""
    base, candidate = tree / LOCK_FILE, repo / LOCK_FILE
    if not base.is_file():
        return False
    return not candidate.is_file() or base.read_bytes() != candidate.read_bytes()


def build_venv(lock: Path, venv: Path, log: Path) -> None:
    """``python -m venv`` + ``pip install -c lock -r lock``, as the Makefile does (no project)."""
    _run([sys.executable, "-m", "venv", str(venv)], log)
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-c", str(lock), "-r", str(lock)], log)


def _run(argv: list[str], log: Path) -> None:
    """Run one build step, output appended to ``log``; a failure is one sentence + the tail."""
    with log.open("ab") as out:
        code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out).returncode
    if code:
        step = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv[:4]))
        raise UsageError(
            f"Could not build the base commit's environment: `{step} …` exited with {code}.",
            detail=log_tail(log.read_text(errors="replace")),
        )


@contextlib.contextmanager
def environment(
    repo: Path,
    tree: Path,
    *,
    label: str = "base",
    status: Callable[[str], None] | None = None,
    builder: Builder | None = None,
    root: Path | None = None,
) -> Iterator[BaseEnv]:
    """The environment base ``tree``'s services run in, next to candidate ``repo``.

    Same pins: the current interpreter, nothing built, nothing said. Different pins: an
    environment built (or reused) under ``root`` (default: the temp directory), announced
    through ``status``, removed on exit unless another check still uses it (see the module
    docstring). ``builder`` defaults to ``build_venv``; tests pass a cheap one.
    """
    if not pins_differ(repo, tree):
        yield BaseEnv(python=sys.executable)
        return
    lock = tree / LOCK_FILE
    digest = pins_hash(lock)
    path = env_dir(digest, root)
    fd = -1
    try:
        fd = _open_locked(path, fcntl.LOCK_SH)  # shared: any number of checks may use it
        while not (path / MARKER).is_file():
            fcntl.flock(fd, fcntl.LOCK_EX)  # exclusive: one builder at a time
            if not _is_open(fd, path):  # a failed build was cleaned up while we waited
                os.close(fd)
                fd = -1
                fd = _open_locked(path, fcntl.LOCK_SH)
                continue
            if not (path / MARKER).is_file():  # nobody built it while we waited
                if status:
                    status(f"building an environment for {label} (pins differ) …")
                _build(lock, path, builder or build_venv, label)
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield BaseEnv(python=str(venv_python(path / "venv")), pins_hash=digest, path=path)
    finally:
        if fd >= 0:
            _release(fd, path)


def _build(lock: Path, path: Path, builder: Builder, label: str) -> None:
    venv = path / "venv"
    shutil.rmtree(venv, ignore_errors=True)  # a killed build's leftovers
    (path / BUILD_LOG).unlink(missing_ok=True)
    builder(lock, venv, path / BUILD_LOG)
    if not venv_python(venv).exists():
        raise UsageError(f"Building the {label} environment left no {venv_python(venv)}.")
    (path / MARKER).write_text(f"{lock}\n")


def _is_open(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the directory at ``path`` (not one removed meanwhile)."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _open_locked(path: Path, mode: int) -> int:
    """``path`` (created if missing) opened and ``flock``-ed with ``mode``; retried when
    another check removed the directory between our open and our lock."""
    while True:
        path.mkdir(mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, mode)
        if _is_open(fd, path):
            if _is_private(os.fstat(fd)):
                return fd
            os.close(fd)
            raise UsageError(
                f"{path} exists but is not a private directory of this user; remove it and retry."
            )
        os.close(fd)


def _is_private(st: os.stat_result) -> bool:
    """We run an interpreter from this directory: it must be ours and writable only by us."""
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _release(fd: int, path: Path) -> None:
    """Stop using the environment; the last user out removes it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pass  # another check still runs services from it; it removes the directory
    else:
        shutil.rmtree(path, ignore_errors=True)
    finally:
        os.close(fd)
