"""Revoked sessions (logout, password change, refresh-token reuse, deactivation) and blocked
users (deactivated accounts), checked on every request.

The truth is a Redis key per session id, and one per blocked user id, with the access-token
lifetime as TTL: no access token issued before the entry was written outlives it, and none is
issued for an inactive user (sign-in, refresh and 2FA check `users.is_active`). Each process
mirrors the keys in memory: it subscribes to a channel on which revocations are announced,
then loads the existing keys, so the per-request check costs no round trip. While the mirror
is not in sync (starting, Redis unreachable) every check asks Redis directly."""

from __future__ import annotations

import asyncio
import contextlib
import time

import redis.exceptions

from backend.logging import get_logger
from backend.redis import Redis

log = get_logger("auth.revocations")

CHANNEL = "auth:revoked"
KEY_PREFIX = "auth:revoked-sid:"
USER_KEY_PREFIX = "auth:blocked-user:"
# Announced as "<ttl> user:<id>" beside "<ttl> <sid>"; a ttl of 0 lifts the block.
_USER_TAG = "user:"


def revoked_sid_key(sid: str) -> str:
    return f"{KEY_PREFIX}{sid}"


def blocked_user_key(user_id: int) -> str:
    return f"{USER_KEY_PREFIX}{user_id}"


class RevocationList:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._expiry: dict[str, float] = {}
        self._blocked: dict[int, float] = {}
        self._synced = False
        self._task: asyncio.Task[None] | None = None

    @property
    def synced(self) -> bool:
        return self._synced

    def _remember(self, sid: str, ttl: float) -> None:
        self._expiry[sid] = time.monotonic() + ttl

    def _remember_user(self, user_id: int, ttl: float) -> None:
        if ttl > 0:
            self._blocked[user_id] = time.monotonic() + ttl
        else:
            self._blocked.pop(user_id, None)

    async def revoke(self, sids: list[str], ttl: int) -> None:
        if not sids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.set(revoked_sid_key(sid), "1", ex=ttl)
                pipe.publish(CHANNEL, f"{ttl} {sid}")
            await pipe.execute()
        for sid in sids:
            self._remember(sid, ttl)

    def forget(self) -> None:
        """Drop the in-memory mirror (after Redis itself was emptied, as the tests do between
        tests: user ids start again from 1 there, and a stale block would refuse a new user)."""
        self._expiry.clear()
        self._blocked.clear()

    async def block_user(self, user_id: int, ttl: int) -> None:
        """Refuse every access token of the user (deactivation)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(blocked_user_key(user_id), "1", ex=ttl)
            pipe.publish(CHANNEL, f"{ttl} {_USER_TAG}{user_id}")
            await pipe.execute()
        self._remember_user(user_id, ttl)

    async def unblock_user(self, user_id: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(blocked_user_key(user_id))
            pipe.publish(CHANNEL, f"0 {_USER_TAG}{user_id}")
            await pipe.execute()
        self._remember_user(user_id, 0)

    async def is_revoked(self, sid: str) -> bool:
        self.start()
        if self._synced:
            expiry = self._expiry.get(sid)
            return expiry is not None and expiry > time.monotonic()
        return bool(await self.redis.exists(revoked_sid_key(sid)))

    async def is_denied(self, sid: str, user_id: int) -> bool:
        """Is the session revoked or the user blocked? The per-request check: from memory when in
        sync, otherwise one Redis round trip for both."""
        self.start()
        if self._synced:
            now = time.monotonic()
            expiry = self._expiry.get(sid)
            blocked = self._blocked.get(user_id)
            return (expiry is not None and expiry > now) or (blocked is not None and blocked > now)
        return bool(await self.redis.exists(revoked_sid_key(sid), blocked_user_key(user_id)))

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._follow(), name="revocations")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self._synced = False

    async def _load_existing(self) -> None:
        async for key in self.redis.scan_iter(match=f"{KEY_PREFIX}*", count=1000):
            ttl = await self.redis.ttl(key)
            if ttl and ttl > 0:
                self._remember(str(key)[len(KEY_PREFIX) :], ttl)
        # Blocks can be lifted (reactivation), so the mirror of them is rebuilt rather than
        # merged: a lift announced while the feed was down must not leave a stale block. A block
        # or lift announced during the scan still arrives on the channel afterwards.
        blocked: dict[int, float] = {}
        async for key in self.redis.scan_iter(match=f"{USER_KEY_PREFIX}*", count=1000):
            ttl = await self.redis.ttl(key)
            if ttl and ttl > 0:
                blocked[int(str(key)[len(USER_KEY_PREFIX) :])] = time.monotonic() + ttl
        self._blocked = blocked

    async def _announced(self, data: str) -> None:
        ttl_text, _, subject = data.partition(" ")
        if subject.startswith(_USER_TAG):
            # A block can be lifted, and this process's own announcements arrive after its local
            # change: read the key's state rather than replaying an announcement that may be
            # stale (deactivations are rare, so the round trip is too).
            user_id = int(subject[len(_USER_TAG) :])
            self._remember_user(user_id, max(await self.redis.ttl(blocked_user_key(user_id)), 0))
        else:
            self._remember(subject, float(ttl_text))

    def _prune(self) -> None:
        now = time.monotonic()
        for sid in [s for s, exp in self._expiry.items() if exp <= now]:
            del self._expiry[sid]
        for user_id in [u for u, exp in self._blocked.items() if exp <= now]:
            del self._blocked[user_id]

    async def _follow(self) -> None:
        delay = 0.5
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                # Subscribe first, then load: a revocation announced in between is not lost.
                await pubsub.subscribe(CHANNEL)
                await self._load_existing()
                self._synced = True
                delay = 0.5
                last_prune = time.monotonic()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        await self._announced(str(message["data"]))
                    if time.monotonic() - last_prune > 60:
                        self._prune()
                        last_prune = time.monotonic()
            except asyncio.CancelledError:
                raise
            except (redis.exceptions.RedisError, OSError, ValueError) as exc:
                if self._synced:
                    log.warning("revocation feed lost; checking Redis per request", error=str(exc))
                self._synced = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
