"""The service's environment: every variable it reads, parsed in one place.

Names and defaults are the ones in docs/interfaces.md; settings, the gunicorn
config and the ASGI launcher all read them through these functions so the three
can never disagree about a default.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

POOL_MODES = ("none", "persistent", "pool")
SERVER_MODELS = ("gthread", "sync", "asgi", "granian")
VIEW_MODES = ("sync", "async", "ninja")
GC_MODES = ("default", "freeze", "threshold")  # as impl_django/gcpauses.py.MODES


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


# A rate's bounds, as the FastAPI service's settings state them: an exact Fraction of
# 1e-999999999 would need a billion-digit denominator, and 1e6 queries would stall every request.
RATE_MAX = 1000
RATE_DECIMALS = 6


def env_rate(name: str) -> Fraction:
    """A decimal from 0 to 1000 with at most 6 decimal places, such as ``0.5`` (as the FastAPI
    service reads it), kept exact as a Fraction so a per-request schedule built on it has no
    float rounding; 0 when unset."""
    raw = env_str(name)
    if not raw:
        return Fraction(0)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}")
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be >= 0, got {raw}")
    if value > RATE_MAX:
        raise ImproperlyConfigured(f"{name} must be <= {RATE_MAX}, got {raw}")
    if _decimal_places(value) > RATE_DECIMALS:
        raise ImproperlyConfigured(
            f"{name} must have at most {RATE_DECIMALS} decimal places, got {raw}"
        )
    return Fraction(value)


def _decimal_places(value: Decimal) -> int:
    """Places after the point, trailing zeros aside (``0.500`` has one), counted from the digits:
    ``normalize()`` would round 1e-999999999 to 0 in the default context."""
    sign, digits, exponent = value.as_tuple()
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant or not isinstance(exponent, int):
        return 0
    return max(0, -exponent - (len(digits) - len(significant)))


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """One of ``choices`` (case and surrounding blanks ignored), ``default`` when unset."""
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def cpu_count() -> int:
    """CPUs this process may run on (respects taskset/cgroup pinning, unlike os.cpu_count)."""
    return len(os.sched_getaffinity(0))


def host() -> str:
    return env_str("CHATBENCH_HOST", "127.0.0.1")


def port() -> int:
    return env_int("CHATBENCH_PORT", 8000, minimum=1)


def server_model() -> str:
    return env_choice("CHATBENCH_SERVER", SERVER_MODELS, "gthread")


def asgi() -> bool:
    """Whether the service is served over ASGI: by uvicorn (``asgi``), or by granian when its
    views are async (granian serves the sync views over WSGI, serve_granian.py)."""
    model = server_model()
    return model == "asgi" or (model == "granian" and views_mode() == "async")


def views_mode() -> str:
    """``sync``: DRF viewsets; ``async``: adrf async viewsets on the async ORM (ASGI only);
    ``ninja``: Django Ninja operations (chat/ninja_api.py)."""
    return env_choice("CHATBENCH_DJANGO_VIEWS", VIEW_MODES, "sync")


def workers() -> int:
    """Worker processes: gunicorn's documented 2*cpus+1, or cpus for uvicorn and granian."""
    default = cpu_count() if server_model() in ("asgi", "granian") else 2 * cpu_count() + 1
    return env_int("CHATBENCH_WORKERS", default, minimum=1)


def reuse_port() -> bool:
    """gunicorn ``reuse_port``: a listening socket per worker, connections spread by the kernel
    (default on; ``0`` restores one shared socket, to reproduce the layout it gives)."""
    return env_choice("CHATBENCH_REUSE_PORT", ("1", "0"), "1") == "1"


def threads() -> int:
    return env_int("CHATBENCH_THREADS", 2, minimum=1)


def database_url() -> str:
    url = env_str("DATABASE_URL")
    if not url:
        raise ImproperlyConfigured(
            "DATABASE_URL is required, e.g. postgresql://user@127.0.0.1:5432/chat"
        )
    return url


def database_settings(url: str) -> dict:
    """Turn `postgresql://user[:pw]@host:port/dbname[?opt=v]` into a DATABASES entry.

    Parsed by hand (urllib) instead of depending on dj-database-url; query
    parameters (sslmode, ...) are passed to psycopg as connection options.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL has no database name")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
    }


def pool_mode() -> str:
    return env_choice("CHATBENCH_DB_POOL", POOL_MODES, "persistent")


def max_connections() -> int:
    return env_int("CHATBENCH_DB_MAX_CONNECTIONS", 10, minimum=1)


def pool_size_per_worker() -> int:
    """The service-wide connection cap shared evenly between worker processes."""
    return max(1, max_connections() // workers())


def cache_url() -> str:
    return env_str("CHATBENCH_CACHE_URL")


def cache_ttl() -> int:
    return env_int("CHATBENCH_CACHE_TTL", 60, minimum=1)


def burn_us() -> int:
    return env_int("CHATBENCH_BURN_US", 0)


def extra_queries() -> Fraction:
    """Extra ``SELECT 1`` statements per API request, on average: ``2`` runs two on every
    request, ``0.5`` one on every other (the test-only injector; 0 = off)."""
    return env_rate("CHATBENCH_EXTRA_QUERY")


def gc_mode() -> str:
    """The ``gc`` runtime axis: ``default``, ``freeze`` or ``threshold`` (gcpauses.py)."""
    return env_choice("CHATBENCH_GC", GC_MODES, "default")


def gc_log_dir() -> str:
    """Where each serving process writes its garbage-collection pauses; empty: nowhere."""
    return env_str("CHATBENCH_GC_LOG")


def refuse_bad_launch() -> None:
    """Exit with one line naming the variable when a setting every worker would refuse is bad,
    before a server starts workers (a worker's ImproperlyConfigured is a traceback per worker)."""
    try:
        gc_mode()
    except ImproperlyConfigured as exc:
        raise SystemExit(str(exc)) from None
