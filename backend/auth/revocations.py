"""Revoked sessions (logout, password change, refresh-token reuse), checked on every request.

The truth is a Redis key per session id with the access-token lifetime as TTL. Each process
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


def revoked_sid_key(sid: str) -> str:
    return f"{KEY_PREFIX}{sid}"


class RevocationList:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._expiry: dict[str, float] = {}
        self._synced = False
        self._task: asyncio.Task[None] | None = None

    @property
    def synced(self) -> bool:
        return self._synced

    def _remember(self, sid: str, ttl: float) -> None:
        self._expiry[sid] = time.monotonic() + ttl

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

    async def is_revoked(self, sid: str) -> bool:
        self.start()
        if self._synced:
            expiry = self._expiry.get(sid)
            return expiry is not None and expiry > time.monotonic()
        return bool(await self.redis.exists(revoked_sid_key(sid)))

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

    def _prune(self) -> None:
        now = time.monotonic()
        for sid in [s for s, exp in self._expiry.items() if exp <= now]:
            del self._expiry[sid]

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
                        ttl_text, _, sid = str(message["data"]).partition(" ")
                        self._remember(sid, float(ttl_text))
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
