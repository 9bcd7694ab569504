"""The socket's limits that are not a fixed-window count: the sockets one address holds open
(in Redis, so every process counts the same sockets) and one socket's message rate (in memory:
it is that socket's own)."""

from __future__ import annotations

import time
import uuid
from collections import deque

from backend.redis import Redis

# KEYS: the address's sorted set. ARGV: now, this socket's expiry, limit, member, key TTL.
# A socket's entry expires unless its heartbeats renew it, so a process that dies does not
# hold its sockets' slots for ever.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return 1
"""


class ConnectionSlot:
    """One socket's place among its address's open sockets."""

    def __init__(self, redis: Redis, ip: str, ttl_s: int) -> None:
        self.redis = redis
        self.key = f"webchat:sockets:{ip}"
        self.member = uuid.uuid4().hex
        self.ttl_s = ttl_s

    async def acquire(self, limit: int) -> bool:
        now = time.time()
        script = self.redis.register_script(_ACQUIRE)
        taken = await script(
            keys=[self.key], args=[now, now + self.ttl_s, limit, self.member, self.ttl_s * 2]
        )
        return bool(int(taken))

    async def renew(self) -> None:
        await self.redis.zadd(self.key, {self.member: time.time() + self.ttl_s}, xx=True)

    async def release(self) -> None:
        await self.redis.zrem(self.key, self.member)


class MessageRate:
    """At most `limit` messages in any 60 seconds (a sliding window of send times)."""

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self.times: deque[float] = deque()

    def admit(self) -> bool:
        now = time.monotonic()
        while self.times and now - self.times[0] >= self.window_s:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True
