"""Counters in Redis: login, OTP, recovery sends, chat messages, payment creation.

A hand-written counter instead of a library: slowapi and fastapi-limiter key on the route,
while these limits key on the account *and* the address and must be applied inside the
service (a failed login counts, a successful one does not).

Every limit counts first and compares after, in one atomic step: a check followed by a later
increment lets N concurrent attempts all pass the check before any of them is counted (41
concurrent codes against a limit of 5 were all tried). An attempt that turns out to be good
hands its slot back (`undo`, `clear_backoff`)."""

from __future__ import annotations

import math

from backend.errors import RateLimited
from backend.redis import Redis

# Give back one counted attempt, never below zero and never creating a key without a TTL.
_UNDO = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""

# KEYS: failures, lock. ARGV: free failures, base ms, cap ms, memory s.
# Refused while the lock lives. Otherwise the attempt is counted as a failure up front; from
# the `free`-th on it also sets the lock for base * 2^(n - free), capped: concurrent attempts
# see the lock at once, and a good attempt clears both keys.
_BACKOFF = """
local locked = redis.call('PTTL', KEYS[2])
if locked > 0 then return {0, locked} end
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
local free = tonumber(ARGV[1])
if n >= free then
  local delay = math.min(tonumber(ARGV[2]) * 2 ^ (n - free), tonumber(ARGV[3]))
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(delay))
end
return {1, n}
"""


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str = "rl") -> None:
        self.redis = redis
        self.prefix = prefix
        self._undo = redis.register_script(_UNDO)
        self._backoff = redis.register_script(_BACKOFF)

    def _key(self, bucket: str, subject: str) -> str:
        return f"{self.prefix}:{bucket}:{subject}"

    async def hit(self, bucket: str, subject: str, limit: int, window_s: int) -> int:
        """Count one event in a fixed window; raise RateLimited when it is beyond `limit`."""
        key = self._key(bucket, subject)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s, nx=True)
            pipe.ttl(key)
            count, _, ttl = await pipe.execute()
        if int(count) > limit:
            raise RateLimited(retry_after=max(int(ttl), 1))
        return int(count)

    async def undo(self, bucket: str, subject: str) -> None:
        """Hand back the slot of an attempt counted by `hit` that turned out to be good."""
        await self._undo(keys=[self._key(bucket, subject)])

    async def check(self, bucket: str, subject: str, limit: int) -> None:
        """Raise RateLimited if the window is full, without counting. Only for a limit that is
        counted elsewhere; never as the guard of an attempt (use `hit`, then `undo`)."""
        key = self._key(bucket, subject)
        value = await self.redis.get(key)
        if value is not None and int(value) >= limit:
            ttl = await self.redis.ttl(key)
            raise RateLimited(retry_after=max(int(ttl), 1))

    async def reset(self, bucket: str, subject: str) -> None:
        await self.redis.delete(self._key(bucket, subject))

    async def backoff(
        self, bucket: str, subject: str, free: int, base_s: int, cap_s: int, memory_s: int
    ) -> int:
        """Admit one attempt, counted as a failure until `clear_backoff` says otherwise, or
        raise RateLimited while the subject is locked. From the `free`-th failure in a row
        each one locks the subject for `base_s`, doubling per failure up to `cap_s`; failures
        are forgotten `memory_s` after the last one."""
        result = await self._backoff(
            keys=[self._key(bucket, subject), self._key(f"{bucket}-lock", subject)],
            args=[free, base_s * 1000, cap_s * 1000, memory_s],
        )
        admitted, value = int(result[0]), int(result[1])
        if not admitted:
            raise RateLimited(retry_after=max(math.ceil(value / 1000), 1))
        return value

    async def clear_backoff(self, bucket: str, subject: str) -> None:
        """A good attempt: forget the failures and lift the lock."""
        await self.redis.delete(self._key(bucket, subject), self._key(f"{bucket}-lock", subject))
