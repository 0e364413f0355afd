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

The sync views use Django's cache API. The async views (CHATBENCH_DJANGO_VIEWS=async) use the
``a``-functions below on ``redis.asyncio``, because Django's ``cache.aget``/``aset`` are
``sync_to_async`` wrappers: a thread hop per cache call. They write the same keys, the same
bytes (Django's ``RedisSerializer``: pickled values, plain integers) with the same TTL, so a
cache filled by one mode reads the same from the other.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache, RedisSerializer

from impl_django import env

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


# -- the async views' path: redis.asyncio, no thread hop ------------------------------------

_serializer = RedisSerializer()
_client: redis.asyncio.Redis | None = None


def _async_client() -> redis.asyncio.Redis:
    """One client (and connection pool) per worker process, made on first use."""
    global _client
    if _client is None:
        _client = redis.asyncio.Redis.from_url(env.cache_url())
    return _client


async def _aget(key: str) -> Any:
    value = await _async_client().get(key)
    return None if value is None else _serializer.loads(value)


async def _aset(key: str, value: Any) -> None:
    # Django's RedisCache.set with the TIMEOUT of settings.CACHES: SET key value EX ttl.
    await _async_client().set(key, _serializer.dumps(value), ex=env.cache_ttl())


async def aget_message(message_id: int) -> dict[str, Any] | None:
    return await _aget(message_key(message_id)) if ENABLED else None


async def aput_message(message_id: int, data: dict[str, Any]) -> None:
    if ENABLED:
        await _aset(message_key(message_id), dict(data))


async def ahistory_key(session_id: str, after_id: int, limit: int) -> str | None:
    if not ENABLED:
        return None
    version = await _aget(version_key(session_id)) or 0
    return f"chatbench:hist:{session_id}:{version}:{after_id}:{limit}"


async def aget_page(key: str | None) -> list[dict[str, Any]] | None:
    return await _aget(key) if key else None


async def aput_page(key: str | None, data: list[dict[str, Any]]) -> None:
    if key:
        await _aset(key, [dict(item) for item in data])


async def ahistory_changed(session_id: str) -> None:
    # INCR creates a missing version at 1: the end state of history_changed's incr/add dance.
    if ENABLED:
        await _async_client().incr(version_key(session_id))


async def amessage_deleted(message_id: int, session_id: str) -> None:
    if ENABLED:
        async with _async_client().pipeline(transaction=False) as pipe:
            pipe.delete(message_key(message_id))
            pipe.incr(version_key(session_id))
            await pipe.execute()
