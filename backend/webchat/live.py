"""One Redis subscriber per process for the live views (the widget's /ws/chat, the agent
console's /ws/agent): the hub subscribes once to every conversation's channel (the pattern
`conv:*`, dialogs.handover.EVENTS_CHANNEL) and to `agents:events`, and fans each event out to
the local subscribers of that channel. A thousand open sockets cost one Redis connection, not a
thousand.

    hub: LiveHub = app.state.live              # started and stopped by the app's lifespan
    async with hub.subscribe("conv:42") as events:
        async for event in events:             # dicts, as published (JSON objects)
            ...

- `subscribe(channel)` takes an exact channel (`conv:<id>`, `agents:events`) or the pattern
  `conv:*` itself (every conversation's events). A subscriber gets a bounded queue: a subscriber
  that falls behind loses the backlog and gets one `{"type": "resync"}` instead.
- Events may be missed while Redis is away: after the hub (re)subscribes following a dropped
  connection, every subscriber gets `{"type": "resync"}` and should re-read what it shows from
  the database (the chat socket catches up; it also does so on each ping, the safety net).
- Messages that are not JSON objects are dropped (logged): every publisher writes JSON.

Events themselves are ephemeral: what must not be lost is in PostgreSQL, and the events only
say "look again" (or carry a typing indicator, which may be lost)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from backend.logging import get_logger
from backend.redis import Redis
from dialogs.handover import AGENTS_CHANNEL

log = get_logger(__name__)

CONVERSATIONS = "conv:*"  # dialogs.handover.EVENTS_CHANNEL for every conversation
AGENTS = AGENTS_CHANNEL  # queue and presence changes for every agent console
RESYNC: dict[str, Any] = {"type": "resync"}
QUEUE_SIZE = 64


class Subscription:
    """One subscriber's events, in the order the hub received them."""

    def __init__(self, hub: LiveHub, channel: str, maxsize: int) -> None:
        self.hub = hub
        self.channel = channel
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)

    def put(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # Too slow to keep up: what it missed is in the database; tell it to re-read.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)

    async def get(self) -> dict[str, Any]:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        self.hub._remove(self)


class LiveHub:
    def __init__(
        self,
        redis: Redis,
        *,
        patterns: tuple[str, ...] = (CONVERSATIONS,),
        channels: tuple[str, ...] = (AGENTS,),
        retry_cap: float = 10.0,
    ) -> None:
        self.redis = redis
        self.patterns = patterns
        self.channels = channels
        self.retry_cap = retry_cap
        self._subscribers: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        # set once the subscriptions are confirmed (tests and the lifespan may wait for it)
        self.ready = asyncio.Event()
        self.reconnects = 0

    # --- the subscribers' side --------------------------------------------------------------

    def covers(self, channel: str) -> bool:
        return (
            channel in self.channels
            or channel in self.patterns
            or any(channel.startswith(p.removesuffix("*")) for p in self.patterns)
        )

    def open(self, channel: str, maxsize: int = QUEUE_SIZE) -> Subscription:
        """A subscription to close with `close()`; `subscribe` is the context-managed form."""
        if not self.covers(channel):
            raise ValueError(f"the hub does not listen to {channel!r}")
        subscription = Subscription(self, channel, maxsize)
        self._subscribers.setdefault(channel, set()).add(subscription)
        return subscription

    @asynccontextmanager
    async def subscribe(
        self, channel: str, maxsize: int = QUEUE_SIZE
    ) -> AsyncIterator[Subscription]:
        subscription = self.open(channel, maxsize)
        try:
            yield subscription
        finally:
            subscription.close()

    def _remove(self, subscription: Subscription) -> None:
        found = self._subscribers.get(subscription.channel)
        if found is not None:
            found.discard(subscription)
            if not found:
                del self._subscribers[subscription.channel]

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def _fan_out(self, channel: str, pattern: str | None, event: dict[str, Any]) -> None:
        for key in (channel, pattern):
            for subscription in list(self._subscribers.get(key, ()) if key else ()):
                subscription.put(event)

    def _resync_all(self) -> None:
        for subscriptions in list(self._subscribers.values()):
            for subscription in list(subscriptions):
                subscription.put(RESYNC)

    # --- the Redis side ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webchat-live-hub")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen(resync=failures > 0 or self.reconnects > 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.ready.clear()
                failures += 1
                delay = min(self.retry_cap, 0.2 * 2.0 ** min(failures - 1, 8))
                log.warning(
                    "webchat.live_hub_disconnected",
                    error=f"{type(exc).__name__}: {str(exc)[:200]}",
                    retry_in=delay,
                )
                await asyncio.sleep(delay)
                self.reconnects += 1
                continue

    async def _listen(self, *, resync: bool) -> None:
        pubsub = self.redis.pubsub()
        try:
            if self.patterns:
                await pubsub.psubscribe(*self.patterns)
            if self.channels:
                await pubsub.subscribe(*self.channels)
            expected = len(self.patterns) + len(self.channels)
            confirmed = 0
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                kind = message.get("type")
                if kind in ("subscribe", "psubscribe"):
                    confirmed += 1
                    if confirmed == expected:
                        self.ready.set()
                        if resync:
                            # events published while we were away are lost: re-read
                            self._resync_all()
                    elif confirmed > expected:
                        # redis-py reconnected by itself and subscribed again
                        self.reconnects += 1
                        self._resync_all()
                    continue
                if kind not in ("message", "pmessage"):
                    continue
                self._dispatch(message)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        pattern = message.get("pattern")
        try:
            event = json.loads(message.get("data") or "")
        except (TypeError, ValueError):
            event = None
        if not isinstance(event, dict) or not isinstance(channel, str):
            log.warning("webchat.live_event_dropped", channel=channel)
            return
        self._fan_out(channel, pattern if isinstance(pattern, str) else None, event)


def hub_of(state: Any, redis: Redis) -> LiveHub:
    """The app's hub (`app.state.live`, started by the lifespan); an app run without its
    lifespan (an in-process test client) gets one started on first use."""
    hub: LiveHub | None = getattr(state, "live", None)
    if hub is None:
        hub = LiveHub(redis)
        state.live = hub
    if hub._task is None:
        hub._task = asyncio.create_task(hub._run(), name="webchat-live-hub")
    return hub


# --- which conversations have a widget open --------------------------------------------------
# A sorted set per conversation: each open socket with the moment its mark lapses. A socket marks
# itself when it starts listening and on every ping (the widget pings every 25 s), and unmarks
# itself when it closes; a process that died leaves marks that lapse by themselves. The
# notification worker reads it: a notice reaches a visitor at once only when a widget is open,
# otherwise it waits in the transcript as unread and the next channel is tried.
OPEN_KEY = "webchat:open:{}"
OPEN_SECONDS = 90


def socket_id() -> str:
    return uuid.uuid4().hex


async def mark_open(redis: Redis, conversation_id: int, socket: str) -> None:
    key = OPEN_KEY.format(conversation_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {socket: time.time() + OPEN_SECONDS})
        pipe.expire(key, OPEN_SECONDS)
        await pipe.execute()


async def mark_closed(redis: Redis, conversation_id: int, socket: str) -> None:
    await redis.zrem(OPEN_KEY.format(conversation_id), socket)


async def widget_open(redis: Redis, conversation_id: int) -> bool:
    key = OPEN_KEY.format(conversation_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", time.time())
        pipe.zcard(key)
        _, count = await pipe.execute()
    return int(count) > 0
