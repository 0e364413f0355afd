"""Read-through cache of messages and history pages: the caching axis.

Off unless CHATBENCH_CACHE_URL is set (settings then configure Django's RedisCache
against a Valkey/Redis server). Keys, the same on the FastAPI service:

    chatbench:msg:{id}                                        one message, TTL
    chatbench:histver:{session_id}                            the session's page version, no TTL
    chatbench:hist:{session_id}:{version}:{after_id}:{limit}  one history page, TTL

Cached pages are never edited: a create or delete in a session bumps its version,
so every page cached before is unreachable from then on, and a delete also drops
the message's key. Both happen before the write's response is sent, so a client
always reads its own writes. (A read that raced a delete can still re-cache the
deleted message until its TTL; both services share that window.)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache

ENABLED: bool = settings.CHATBENCH_CACHE_ENABLED


class ChatRedisCache(RedisCache):
    """Django's RedisCache, minus the memcached-oriented key check.

    Redis keys are binary-safe; the check would warn on session ids with spaces.
    """

    def validate_key(self, key: str) -> None:
        pass


def plain_key(key: str, key_prefix: str, version: int) -> str:
    """KEY_FUNCTION: store keys exactly as named above (no Django prefix or version)."""
    return key


def message_key(message_id: int) -> str:
    return f"chatbench:msg:{message_id}"


def version_key(session_id: str) -> str:
    return f"chatbench:histver:{session_id}"


def get_message(message_id: int) -> dict[str, Any] | None:
    return cache.get(message_key(message_id)) if ENABLED else None


def put_message(message_id: int, data: dict[str, Any]) -> None:
    if ENABLED:
        cache.set(message_key(message_id), dict(data))


def history_key(session_id: str, after_id: int, limit: int) -> str | None:
    """The key of this page at the session's current version (None: cache off)."""
    if not ENABLED:
        return None
    version = cache.get(version_key(session_id), 0)
    return f"chatbench:hist:{session_id}:{version}:{after_id}:{limit}"


def get_page(key: str | None) -> list[dict[str, Any]] | None:
    return cache.get(key) if key else None


def put_page(key: str | None, data: list[dict[str, Any]]) -> None:
    if key:
        cache.set(key, [dict(item) for item in data])


def history_changed(session_id: str) -> None:
    """Bump the session's version: its cached pages stop being read."""
    if not ENABLED:
        return
    key = version_key(session_id)
    try:
        cache.incr(key)
    except ValueError:  # no version yet (Django's incr refuses a missing key)
        if not cache.add(key, 1, timeout=None):
            cache.incr(key)  # a concurrent write created it first


def message_deleted(message_id: int, session_id: str) -> None:
    if ENABLED:
        cache.delete(message_key(message_id))
        history_changed(session_id)
