"""The inbox's lock per chat (`tg:inbox:{bot}:{chat}`) in Redis, owned by a process identity
(`ChatLocks.owner`, which keeps a short-lived liveness key alive while the process runs).

What the lock protects is bot/inbox.py's turn: claiming a chat's next row, running it through
the dispatcher and writing its outcome. Whoever holds it drains that chat's pending rows in
update_id order, one at a time. A lock whose owner is no longer alive is taken over at once
rather than waited out, so a restart takes over a killed process's chats within seconds; a
lock lost while held (Redis restarted empty) is set again by its owner. Correctness does not
rest on the lock alone: the claim is fenced by the row (bot/inbox_repository.py).

Why not aiogram's RedisEventIsolation: isolation only serialises handlers that run; it neither
orders a chat's updates by update_id nor knows that a row was already processed by another
process, and recovery runs outside the dispatcher's event flow. Updates without a chat are
locked on their update_id: a pre-checkout must be answered within 10 seconds and must not wait
behind a chat's slow turns."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from backend.logging import get_logger
from backend.state import Resources

log = get_logger("bot.chat_locks")

# A chat lock outlives its owner by this much at most; a live owner extends it (keep), and a
# dead owner's lock is taken over once its liveness key is gone (ALIVE_TTL).
LOCK_TTL = 60  # seconds
LOCK_WAIT = 30  # seconds to wait for a chat's lock before leaving the row to the retry sweep
LOCK_POLL = 0.02  # seconds between tries: a chat's next update waits one turn, not 100 ms more
ALIVE_TTL = 5  # seconds a process counts as alive after its last sign of life
KEEP_INTERVAL = 1.0  # seconds between signs of life (and lock extensions)

ALIVE_KEY = "tg:inbox:alive:{}"

# Lua: each check-and-set is atomic in Redis.
_EXTEND = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1
end
return 0
"""

_INSTANCES = itertools.count(1)


def lock_key(bot_id: int, chat_id: int | None, update_id: int) -> str:
    """The chat's lock; a chat-less update's own."""
    return (
        f"tg:inbox:{bot_id}:{chat_id}" if chat_id is not None else f"tg:inbox:{bot_id}:u{update_id}"
    )


def _owner_of(token: str) -> str:
    return token.rpartition(":")[0]


@dataclass(eq=False)
class ChatLocks:
    """The chat locks one bot's inbox holds in this process, and the process's identity."""

    resources: Resources
    owner: str = field(
        default_factory=lambda: (
            f"{socket.gethostname()[:40]}-{os.getpid()}-{next(_INSTANCES)}-{secrets.token_hex(3)}"
        )
    )
    held: dict[str, str] = field(default_factory=dict)  # lock key -> token
    unreleased: dict[str, str] = field(default_factory=dict)  # releases Redis refused
    _reserved: set[str] = field(default_factory=set)  # keys being acquired right now
    _tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _alive_at: float = float("-inf")

    @property
    def redis(self) -> Any:
        return self.resources.redis

    async def sign_of_life(self, *, force: bool = False) -> None:
        now = asyncio.get_running_loop().time()
        if force or now - self._alive_at >= KEEP_INTERVAL:
            await self.redis.set(ALIVE_KEY.format(self.owner), "1", ex=ALIVE_TTL)
            self._alive_at = now

    async def _owner_alive(self, token: str) -> bool:
        owner = _owner_of(token)
        if not owner:  # not one of ours (an older version's lock): its TTL rules
            return True
        if owner == self.owner:  # ours but held by none of our turns: left by a failed release
            return False
        return bool(await self.redis.exists(ALIVE_KEY.format(owner)))

    async def try_acquire(self, key: str) -> bool:
        """The chat's lock, now or never: free, or taken over from an owner that is gone."""
        if key in self.held or key in self._reserved:  # another turn of ours has the chat
            return False
        token = f"{self.owner}:{next(self._tokens)}"
        self._reserved.add(key)  # before the first await: our own turns queue
        try:
            await self.sign_of_life()
            ttl = LOCK_TTL * 1000
            got = bool(await self.redis.set(key, token, nx=True, px=ttl))
            if not got:
                holder = await self.redis.get(key)
                if holder is None:
                    got = bool(await self.redis.set(key, token, nx=True, px=ttl))
                elif not await self._owner_alive(str(holder)):
                    got = bool(await self.redis.eval(_TAKE_OVER, 1, key, holder, token, ttl))
                    if got:
                        log.info("telegram chat lock taken over", key=key, owner=holder)
            if got:
                self.held[key] = token
                self.unreleased.pop(key, None)
            return got
        finally:
            self._reserved.discard(key)

    async def acquire(self, key: str, wait: float = LOCK_WAIT) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not await self.try_acquire(key):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(LOCK_POLL)
        return True

    async def release(self, key: str) -> None:
        token = self.held.pop(key, None)
        if token is None:
            return
        try:
            await self.redis.eval(_RELEASE, 1, key, token)
        except RedisError:
            self.unreleased[key] = token  # keep() tries again: others must not wait out the TTL

    async def keep(self) -> None:
        """A sign of life; extend the locks held (set them again if Redis lost them); retry
        releases Redis refused. Run every KEEP_INTERVAL by bot.inbox.maintain()."""
        await self.sign_of_life(force=True)
        for key, token in list(self.held.items()):
            kept = await self.redis.eval(_EXTEND, 1, key, token, LOCK_TTL * 1000)
            if not kept and self.held.get(key) == token:
                # another owner took it (we looked dead): the claim fence keeps our outcome out
                log.warning("telegram chat lock lost", key=key)
        for key, token in list(self.unreleased.items()):
            await self.redis.eval(_RELEASE, 1, key, token)
            self.unreleased.pop(key, None)
