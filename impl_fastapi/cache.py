"""The cache axis (``CHATBENCH_CACHE_URL``): message and history pages in Redis/Valkey.

Off unless ``CHATBENCH_CACHE_URL`` is set. Same keys, TTL and invalidation as the Django service:

- ``chatbench:msg:{id}``: one message's JSON, set on a detail miss, deleted on delete;
- ``chatbench:hist:{session_id}:{ver}:{after_id}:{limit}``: one history page's JSON, where
  ``ver`` is the integer in ``chatbench:histver:{session_id}`` (0 when absent);
- ``chatbench:histver:{session_id}``: ``INCR``-ed after every create and delete in that session,
  after the database write, so the next read of that session misses: reads stay read-your-writes.
  It has no TTL: if it expired its counter would restart and could meet pages cached under an
  earlier life of the same number.

Pages and messages expire after ``CHATBENCH_CACHE_TTL`` seconds. Values are the exact response
bytes, so a hit is returned without touching the database or pydantic. ``AsyncMessageCache``
(redis.asyncio) serves the ``async`` routes, ``SyncMessageCache`` (blocking client) the ``sync``
and ``seed`` routes.
"""

from __future__ import annotations

from typing import Annotated

import redis
import redis.asyncio
from fastapi import Depends, Request

from impl_fastapi.schemas import HistoryQuery

PREFIX = "chatbench"


def message_key(message_id: int) -> str:
    return f"{PREFIX}:msg:{message_id}"


def history_version_key(session_id: str) -> str:
    return f"{PREFIX}:histver:{session_id}"


def history_key(query: HistoryQuery, version: int) -> str:
    return f"{PREFIX}:hist:{query.session_id}:{version}:{query.after_id}:{query.limit}"


class AsyncMessageCache:
    def __init__(self, url: str, ttl: int) -> None:
        self.client = redis.asyncio.Redis.from_url(url)
        self.ttl = ttl

    async def get(self, key: str) -> bytes | None:
        return await self.client.get(key)

    async def put(self, key: str, body: bytes) -> None:
        await self.client.set(key, body, ex=self.ttl)

    async def history_key(self, query: HistoryQuery) -> str:
        version = await self.client.get(history_version_key(query.session_id))
        return history_key(query, int(version or 0))

    async def message_created(self, session_id: str) -> None:
        await self.client.incr(history_version_key(session_id))

    async def message_deleted(self, message_id: int, session_id: str) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.delete(message_key(message_id))
            pipe.incr(history_version_key(session_id))
            await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()


class SyncMessageCache:
    def __init__(self, url: str, ttl: int) -> None:
        self.client = redis.Redis.from_url(url)
        self.ttl = ttl

    def get(self, key: str) -> bytes | None:
        return self.client.get(key)  # type: ignore[return-value]

    def put(self, key: str, body: bytes) -> None:
        self.client.set(key, body, ex=self.ttl)

    def history_key(self, query: HistoryQuery) -> str:
        version = self.client.get(history_version_key(query.session_id))
        return history_key(query, int(version or 0))  # type: ignore[arg-type]

    def message_created(self, session_id: str) -> None:
        self.client.incr(history_version_key(session_id))

    def message_deleted(self, message_id: int, session_id: str) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.delete(message_key(message_id))
            pipe.incr(history_version_key(session_id))
            pipe.execute()

    async def close(self) -> None:
        self.client.close()


async def _get_async_cache(request: Request) -> AsyncMessageCache | None:
    return request.state.cache


async def _get_sync_cache(request: Request) -> SyncMessageCache | None:
    # async def so FastAPI does not spend a threadpool hop on an attribute lookup.
    return request.state.cache


AsyncCacheDep = Annotated[AsyncMessageCache | None, Depends(_get_async_cache)]
SyncCacheDep = Annotated[SyncMessageCache | None, Depends(_get_sync_cache)]
