"""Pacing of what the bot sends, shared by every process that talks to Telegram as this bot (the
bot's own replies, notifications, agent replies). Telegram answers 429 past about 30 messages a
second for a bot and about one message a second to one chat, short bursts tolerated
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).

Two token buckets in Redis, each kept as a GCRA "theoretical arrival time" (one key): the
bot's (TELEGRAM_GLOBAL_RATE a second, a burst of a fifth of a second's worth, so that no
one-second window holds more than 1.2 x the rate) and one per chat (a burst of
TELEGRAM_CHAT_BURST, then TELEGRAM_CHAT_RATE a second). One Lua script call, atomic on Redis's
clock, reserves the bot's next free slot once the chat's bucket allows and answers how long to
sleep until it: senders in any number of processes cannot overdraw, and queue for the bot's
slots in arrival order. A message that must first wait for its chat, or for a pause, sleeps
that out and asks once more; nothing polls. A 429 sets a pause key for its retry_after that
every sender waits out.

Redis unreachable: the same arithmetic runs in this process alone (each process then keeps
the rates by itself, so several together may exceed them) and Redis is tried again a few
seconds later; the bot never blocks on a missing Redis."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import (
    CopyMessage,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageReplyMarkup,
    EditMessageText,
    ForwardMessage,
    SendAnimation,
    SendAudio,
    SendContact,
    SendDocument,
    SendInvoice,
    SendLocation,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    SendSticker,
    SendVideo,
    SendVoice,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from redis.exceptions import RedisError

from backend.config import Settings
from backend.logging import get_logger

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

    from backend.redis import Redis

log = get_logger("bot.pacing")

DEFAULT_PREFIX = "tg:pace:"
# A 429 pauses every sender for its retry_after, but at most this long: a flood wait of an
# hour must not silence the whole bot for an hour on the word of one answer (the row that got
# it waits the full time; other senders try again after this and renew the pause if Telegram
# still refuses).
MAX_SHARED_PAUSE = 60.0
REDIS_RETRY_SECONDS = 5.0  # after a Redis failure, pace in-process this long before trying again
REDIS_TIMEOUT = 0.5  # seconds a pacing call to Redis may take before this process paces alone
# Telegram asks for a few seconds on a 429; a longer pause is a flood ban not to sit out
# inside one request (the caller gets the error and decides).
MAX_RETRY_SLEEP = 30.0
MAX_RETRIES = 3
NOTABLE_WAIT = 0.5  # seconds of pacing logged at info (shorter waits at debug)
MAX_LOCAL_CHATS = 10_000  # chats remembered by the in-process fallback before idle ones go

# Methods that put a new message into a chat: both buckets.
CHAT_METHODS = (
    SendMessage, SendDocument, SendPhoto, SendInvoice, SendVoice, SendSticker, SendVideo,
    SendAudio, SendAnimation, SendContact, SendLocation, SendMediaGroup, CopyMessage,
    ForwardMessage,
)  # fmt: skip
# Edits: the bot's bucket only. Telegram counts them towards the bot's load, but an edit adds
# no message to the chat, and it is the answer to the user's own press of a menu button: making
# it wait a second behind the chat's last message would make the menus feel stuck.
GLOBAL_METHODS = (EditMessageText, EditMessageCaption, EditMessageReplyMarkup, EditMessageMedia)
# Everything else (callback answers, chat actions, getUpdates, getFile, setWebhook ...) is not
# a message and is not paced: a callback query must be answered at once.

# KEYS: pause, the bot's bucket[, the chat's bucket]
# ARGV: the bot's interval (ms), its burst[, the chat's interval (ms), its burst]
# Returns {microseconds to sleep, 1 when a slot was reserved / 0 when not}. While the bot is
# paused or the chat's bucket is empty nothing is reserved: the caller sleeps until then and
# asks again. Reserving there would hold a bot-wide slot for the chat's later turn (and make
# every other chat wait for it), or give the chat's slot to a message that then waits behind
# other chats and lands closer to the chat's next one than the chat's rate allows. Once the
# chat allows, both slots are reserved at the bot's next free slot: the bot's queue holds
# ready messages only, in arrival order. Times are Redis's own (TIME), so processes whose
# clocks disagree still share one timeline.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local pause = redis.call('PTTL', KEYS[1])
if pause > 0 then return {pause * 1000, 0} end
local ctat
if KEYS[3] then
  ctat = tonumber(redis.call('GET', KEYS[3])) or now
  local early = ctat - (tonumber(ARGV[4]) - 1) * tonumber(ARGV[3])
  if early > now then return {math.ceil((early - now) * 1000), 0} end
end
local function take(key, tat, slot, interval)
  local next = math.max(tat, slot) + interval
  -- the key lives until its bucket is full again; a missing key is a full bucket
  redis.call('SET', key, string.format('%.3f', next), 'PX', math.ceil(next - now) + 1000)
end
local gi = tonumber(ARGV[1])
local gtat = tonumber(redis.call('GET', KEYS[2])) or now
local at = math.max(now, gtat - (tonumber(ARGV[2]) - 1) * gi)
take(KEYS[2], gtat, at, gi)
if ctat then take(KEYS[3], ctat, at, tonumber(ARGV[3])) end
return {math.ceil((at - now) * 1000), 1}
"""

# KEYS: pause; ARGV: milliseconds. Lengthens the pause, never shortens it.
_PAUSE = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Rates:
    global_interval: float  # seconds between two of the bot's messages
    global_burst: int
    chat_interval: float
    chat_burst: int

    @classmethod
    def of(cls, global_rate: float, chat_rate: float, chat_burst: int) -> Rates:
        return cls(
            global_interval=1.0 / global_rate,
            global_burst=max(1, math.ceil(global_rate / 5)),
            chat_interval=1.0 / chat_rate,
            chat_burst=max(1, chat_burst),
        )


class _LocalBuckets:
    """The script's arithmetic in this process (the fallback while Redis is away), on the
    monotonic clock."""

    def __init__(self, rates: Rates, max_chats: int = MAX_LOCAL_CHATS) -> None:
        self.rates = rates
        self.max_chats = max_chats
        self.pause_until = 0.0
        self._global = 0.0
        self._chats: dict[int | str, float] = {}

    def reserve(self, chat_id: int | str | None, now: float) -> tuple[float, bool]:
        r = self.rates
        if self.pause_until > now:
            return self.pause_until - now, False
        tat = None
        if chat_id is not None:
            if len(self._chats) >= self.max_chats:
                self._chats = {k: v for k, v in self._chats.items() if v > now}
            tat = self._chats.get(chat_id, now)
            early = tat - (r.chat_burst - 1) * r.chat_interval
            if early > now:
                return early - now, False
        at = max(now, self._global - (r.global_burst - 1) * r.global_interval)
        self._global = max(self._global, at) + r.global_interval
        if chat_id is not None and tat is not None:
            self._chats[chat_id] = max(tat, at) + r.chat_interval
        return at - now, True

    def pause(self, seconds: float, now: float) -> None:
        self.pause_until = max(self.pause_until, now + seconds)

    def paused_for(self, now: float) -> float:
        return max(0.0, self.pause_until - now)


class Pacer:
    """`await pacer.acquire(chat_id)` returns when a message to the chat may go (`chat_id`
    None: the bot's bucket only); `await pacer.pause(seconds)` after a 429. Instances on one
    Redis with one `prefix` share their buckets."""

    def __init__(
        self,
        redis: Redis | None,
        rates: Rates,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.rates = rates
        self.prefix = prefix
        self.clock = clock
        self.local = _LocalBuckets(rates)
        self._reserve: AsyncScript | None = None
        self._pause: AsyncScript | None = None
        if redis is not None:
            self._reserve = redis.register_script(_RESERVE)
            self._pause = redis.register_script(_PAUSE)
        self._redis_after = 0.0  # monotonic time before which Redis is not tried again
        self._degraded = False

    @classmethod
    def from_settings(
        cls, settings: Settings, redis: Redis | None, *, prefix: str = DEFAULT_PREFIX
    ) -> Pacer:
        """The pacer of settings' bot: its keys carry the bot's id (Telegram's limits are per
        bot)."""
        token = settings.telegram_bot_token
        bot_id = token.get_secret_value().split(":", 1)[0] if token is not None else "none"
        rates = Rates.of(
            settings.telegram_global_rate, settings.telegram_chat_rate, settings.telegram_chat_burst
        )
        return cls(redis, rates, prefix=f"{prefix}{bot_id}:")

    @property
    def pause_key(self) -> str:
        return f"{self.prefix}pause"

    @property
    def global_key(self) -> str:
        return f"{self.prefix}global"

    def chat_key(self, chat_id: int | str) -> str:
        return f"{self.prefix}chat:{chat_id}"

    async def acquire(self, chat_id: int | str | None = None) -> float:
        """Wait for the next slot; returns the seconds waited. Concurrent senders to one chat
        get its slots in no particular order (PacingMiddleware orders them in a process)."""
        waited = 0.0
        while True:
            wait, reserved = await self._reserve_slot(chat_id)
            if wait > 0:
                await asyncio.sleep(wait)
                waited += wait
            if not reserved:
                continue  # the pause or the chat's wait is over: ask for a slot now
            # A 429 while we slept pauses everyone, including slots reserved before it: take
            # a new one after the pause rather than go at the old one.
            if wait <= 0 or await self.paused_for() <= 0:
                return waited

    async def pause(self, seconds: float) -> None:
        """Every sender waits `seconds` (at most MAX_SHARED_PAUSE) before its next message."""
        seconds = min(max(seconds, 0.0), MAX_SHARED_PAUSE)
        if seconds <= 0:
            return
        self.local.pause(seconds, self.clock())
        if self._pause is None or not self._redis_usable():
            return
        try:
            await self._redis(self._pause(keys=[self.pause_key], args=[math.ceil(seconds * 1000)]))
        except (RedisError, OSError, TimeoutError) as exc:
            self._redis_failed(exc)

    async def paused_for(self) -> float:
        """Seconds left of the pause (0 when none)."""
        local = self.local.paused_for(self.clock())
        if self.redis is None or not self._redis_usable():
            return local
        try:
            ms = int(await self._redis(self.redis.pttl(self.pause_key)))
        except (RedisError, OSError, TimeoutError) as exc:
            self._redis_failed(exc)
            return local
        return max(ms / 1000, 0.0)

    async def _reserve_slot(self, chat_id: int | str | None) -> tuple[float, bool]:
        """(seconds to sleep, whether a slot was reserved at its end)."""
        if self._reserve is not None and self._redis_usable():
            r = self.rates
            keys = [self.pause_key, self.global_key]
            args: list[float | int] = [r.global_interval * 1000, r.global_burst]
            if chat_id is not None:
                keys.append(self.chat_key(chat_id))
                args += [r.chat_interval * 1000, r.chat_burst]
            try:
                micros, reserved = await self._redis(self._reserve(keys=keys, args=args))
            except (RedisError, OSError, TimeoutError) as exc:
                self._redis_failed(exc)
            else:
                self._redis_back()
                return int(micros) / 1_000_000, bool(reserved)
        return self.local.reserve(chat_id, self.clock())

    async def _redis(self, call: Awaitable[Any]) -> Any:
        # Bounded: redis-py retries a refused connection for seconds, and a message must not
        # wait that long for its pacing.
        return await asyncio.wait_for(call, REDIS_TIMEOUT)

    def _redis_usable(self) -> bool:
        now = self.clock()
        if now < self._redis_after:
            return False
        if self._degraded:
            # one caller tries Redis again; the others keep pacing locally meanwhile
            self._redis_after = now + REDIS_RETRY_SECONDS
        return True

    def _redis_failed(self, exc: BaseException) -> None:
        self._redis_after = self.clock() + REDIS_RETRY_SECONDS
        if not self._degraded:  # once per outage, not once per message
            self._degraded = True
            log.warning(
                "telegram pacing without Redis: this process paces alone",
                error=type(exc).__name__,
            )

    def _redis_back(self) -> None:
        if self._degraded:
            self._degraded = False
            log.info("telegram pacing shared through Redis again")


def pacing_of(method: TelegramMethod[Any]) -> tuple[bool, int | str | None]:
    """(paced at all, the chat whose bucket it also takes)."""
    if isinstance(method, CHAT_METHODS):
        chat_id = getattr(method, "chat_id", None)
        return True, chat_id if isinstance(chat_id, int | str) else None
    return isinstance(method, GLOBAL_METHODS), None


class _ChatOrder:
    """One message at a time per chat in this process, first come first served (asyncio.Lock
    is fair); a chat's lock lives while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int | str, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, chat_id: int | str) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(chat_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[chat_id]


class PacingMiddleware(BaseRequestMiddleware):
    """Every message waits for its slot (Pacer). Messages to one chat from this process go
    one at a time in the order they were asked for, each request answered before the next is
    made, so a later one never overtakes an earlier one, not even across a 429 (the pacer's
    slots alone do not order concurrent senders; across processes a chat's messages are
    sequential by design: one turn at a time, the worker keeps a chat's rows in order).

    A 429 pauses every sender for its retry_after; the request is then repeated, up to
    `max_retries` times and only for a wait of at most `max_sleep`, otherwise the
    TelegramRetryAfter is raised to the caller (the notification channel uses max_retries=0:
    its worker reschedules the row instead of holding a worker slot)."""

    def __init__(
        self, pacer: Pacer, max_retries: int = MAX_RETRIES, max_sleep: float = MAX_RETRY_SLEEP
    ) -> None:
        self.pacer = pacer
        self.max_retries = max_retries
        self.max_sleep = max_sleep
        self._order = _ChatOrder()

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        paced, chat_id = pacing_of(method)
        if chat_id is None:
            return await self._send(make_request, bot, method, paced, None)
        async with self._order.turn(chat_id):
            return await self._send(make_request, bot, method, paced, chat_id)

    async def _send(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        paced: bool,
        chat_id: int | str | None,
    ) -> Any:
        attempt = 0
        while True:
            if paced:
                waited = await self.pacer.acquire(chat_id)
                if waited > 0:
                    # the bot-wide queue makes most messages of a broadcast wait a little:
                    # only a chat's wait or a pause is worth an info line
                    report = log.info if waited >= NOTABLE_WAIT else log.debug
                    report("telegram chat paced", chat_id=chat_id, wait=round(waited, 3))
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                await self.pacer.pause(float(exc.retry_after))
                if attempt >= self.max_retries or exc.retry_after > self.max_sleep:
                    raise
                attempt += 1
                log.warning(
                    "telegram flood control",
                    method=type(method).__name__,
                    retry_after=exc.retry_after,
                    attempt=attempt,
                )
                if not paced:  # a paced request waits the pause out in acquire()
                    await asyncio.sleep(exc.retry_after)
