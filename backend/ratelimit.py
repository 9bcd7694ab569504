"""Fixed-window counters in Redis: login, OTP, recovery sends, chat messages, payment creation.

A hand-written INCR/EXPIRE pair instead of a library: slowapi and fastapi-limiter key on the
route, while these limits key on the account *and* the address and must be checked inside the
service (a failed login counts, a successful one does not)."""

from __future__ import annotations

from backend.errors import RateLimited
from backend.redis import Redis


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str = "rl") -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, bucket: str, subject: str) -> str:
        return f"{self.prefix}:{bucket}:{subject}"

    async def hit(self, bucket: str, subject: str, limit: int, window_s: int) -> int:
        """Count one event; raise RateLimited when the window already holds `limit` events."""
        key = self._key(bucket, subject)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s, nx=True)
            pipe.ttl(key)
            count, _, ttl = await pipe.execute()
        if int(count) > limit:
            raise RateLimited(retry_after=max(int(ttl), 1))
        return int(count)

    async def check(self, bucket: str, subject: str, limit: int) -> None:
        """Raise RateLimited if the window is full, without counting."""
        key = self._key(bucket, subject)
        value = await self.redis.get(key)
        if value is not None and int(value) >= limit:
            ttl = await self.redis.ttl(key)
            raise RateLimited(retry_after=max(int(ttl), 1))

    async def reset(self, bucket: str, subject: str) -> None:
        await self.redis.delete(self._key(bucket, subject))
