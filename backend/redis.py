"""Redis client: `redis.asyncio` against REDIS_URL, or an in-process fakeredis (with Lua, which
aiogram's RedisEventIsolation needs) in the embedded default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from backend.config import Settings

if TYPE_CHECKING:
    Redis = aioredis.Redis
else:
    Redis = Any


def create_redis(settings: Settings) -> aioredis.Redis:
    if settings.embedded_redis:
        import fakeredis

        client: aioredis.Redis = fakeredis.FakeAsyncRedis(decode_responses=True)
        return client
    return aioredis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
    )
