"""The Telegram inbox (reliability.md, "Nothing lost", rule 1) and the bot package's SQL.

Every update is stored (unique per bot and update_id) before it is acknowledged - before the
webhook answers 200, before polling advances its offset - and only then processed, so a crash
loses nothing and a redelivery is a no-op.

Ordering and exactly-once across processes: a lock per chat (`tg:inbox:{bot}:{chat}`) in
Redis, owned by a process identity (`Inbox.owner`, which keeps a short-lived liveness key
alive while the process runs). Whoever holds it drains that chat's pending rows in update_id
order, one at a time. A lock whose owner is no longer alive is taken over at once rather than
waited out, so a restart takes over a killed process's chats within seconds; a lock lost while
held (Redis restarted empty) is set again by its owner. The claim is fenced by the row: a claim
records its owner, and only that owner writes the outcome. We lock here rather than with
aiogram's RedisEventIsolation because isolation only serialises handlers that run: it neither
orders a chat's updates by update_id nor knows that a row was already processed by another
process, and recovery runs outside the dispatcher's event flow.

Failures are retried by the running process (`maintain()`): a turn that failed because
PostgreSQL or Redis was away is put back with backoff and no attempt spent (never answered
with an error), any other failure is retried with backoff up to MAX_ATTEMPTS, and rows a dead
process had claimed are taken over. See docs/telegram.md, "Nothing lost, nothing twice".

Updates without a chat (pre_checkout_query, inline queries) are processed on their own, under
a lock on their update_id: a pre-checkout must be answered within 10 seconds and must not wait
behind a chat's slow turns."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import utcnow
from backend.db import dialect_insert, unit_of_work
from backend.logging import get_logger
from backend.models import ChannelIdentity, Customer, Tariff, TelegramUpdate
from backend.models.enums import Channel
from backend.state import Resources

log = get_logger("bot.inbox")

PENDING, DONE, FAILED = "pending", "done", "failed"
# The dispatcher's keyword with the sender's (customer_id, locale), read when the row was
# claimed; bot.handlers.IdentityMiddleware queries only when it is absent.
PREFETCHED_IDENTITY = "inbox_identity"
BLOCKED_BY_USER = "blocked_by_user"  # why an identity is unreachable: the bot answered 403
# Claims per row (counted before processing, so an update that crashes the process on every
# try is dead-lettered instead of looping across restarts). A turn deferred by an outage gives
# its attempt back.
MAX_ATTEMPTS = 5
# A chat lock outlives its owner by this much at most; a live owner extends it (Inbox.keep),
# and a dead owner's lock is taken over once its liveness key is gone (ALIVE_TTL).
LOCK_TTL = 60  # seconds
LOCK_WAIT = 30  # seconds to wait for a chat's lock before leaving the row to the retry sweep
LOCK_POLL = 0.02  # seconds between tries: a chat's next update waits one turn, not 100 ms more
ALIVE_TTL = 5  # seconds a process counts as alive after its last sign of life
KEEP_INTERVAL = 1.0  # seconds between signs of life (and lock extensions)
SWEEP_INTERVAL = 2.0  # seconds between looks for rows to retry
SWEEP_BACKOFF_MAX = 5.0  # seconds between failing sweeps (PostgreSQL or Redis away)
STALE_AFTER = timedelta(seconds=3)  # a pending row nobody took for this long is retried
RETRY_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before retry 1, 2, ...
RECORD_PATIENCE = 300.0  # seconds an outcome waits for the database before it is given up
# successful_payment failures (money already taken) before an alert
PAYMENT_ALERT_AFTER = 3

ALIVE_KEY = "tg:inbox:alive:{}"

PAYMENT_FAILURES = Counter(
    "telegram_successful_payment_failures_total",
    "successful_payment updates whose processing failed (retried)",
    ["reason"],
)
PAYMENT_ALERTS = Counter(
    "telegram_successful_payment_alerts_total",
    "successful_payment updates that keep failing (an alert: money taken, not yet credited)",
)


def register_metrics(registry: CollectorRegistry) -> None:
    """Serve the inbox's counters on an app's /metrics too (backend/app.py)."""
    for counter in (PAYMENT_FAILURES, PAYMENT_ALERTS):
        registry.register(counter)


_CHAT_PATHS = (
    ("message", "chat"),
    ("edited_message", "chat"),
    ("channel_post", "chat"),
    ("edited_channel_post", "chat"),
    ("business_message", "chat"),
    ("edited_business_message", "chat"),
    ("callback_query", "message", "chat"),
    ("my_chat_member", "chat"),
    ("chat_member", "chat"),
    ("chat_join_request", "chat"),
    ("message_reaction", "chat"),
)


def chat_of(update_json: dict[str, Any]) -> int | None:
    """The chat an update belongs to (its ordering key), None for chat-less updates."""
    for path in _CHAT_PATHS:
        node: Any = update_json
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("id"), int):
            return int(node["id"])
    return None


def user_of(update_json: dict[str, Any]) -> int | None:
    """The id of the user an update comes from (None for channel posts and the like)."""
    for key, value in update_json.items():
        if key != "update_id" and isinstance(value, dict):
            sender = value.get("from")
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                return int(sender["id"])
            return None
    return None


def is_payment(update_json: dict[str, Any]) -> bool:
    message = update_json.get("message")
    return isinstance(message, dict) and "successful_payment" in message


_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # refused or reset connections (ConnectionError is one)
    TimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # the pool's: no connection to be had
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,  # "connection is closed", "another operation is in progress"
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) means PostgreSQL or Redis could not be reached, so
    the same work will succeed once they are back."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, _OUTAGE_TYPES):
            return True
        if isinstance(node, sa_exc.DBAPIError) and node.connection_invalidated:
            return True
        node = node.__cause__ or node.__context__
    return False


def _backoff(retry: int) -> timedelta:
    return timedelta(seconds=RETRY_BACKOFF[min(max(retry - 1, 0), len(RETRY_BACKOFF) - 1)])


# --- the inbox table ---------------------------------------------------------------------------


async def store(session: AsyncSession, bot_id: int, update_json: dict[str, Any]) -> bool:
    """Insert the update unless (bot_id, update_id) is known; True when it is new."""
    update_id = update_json.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise ValueError("an update without an integer update_id")
    insert = dialect_insert(session)
    stmt = (
        insert(TelegramUpdate)
        .values(
            bot_id=bot_id,
            update_id=update_id,
            chat_id=chat_of(update_json),
            payload=update_json,
            attempts=0,
            status=PENDING,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
        .returning(TelegramUpdate.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row claimed for processing, with its sender's identity read in the same transaction
    (so the dispatcher's IdentityMiddleware needs no query of its own)."""

    id: int
    update_id: int
    payload: dict[str, Any]
    attempts: int
    identity: tuple[int, str] | None
    owner: str = ""


async def claim_pending(
    session: AsyncSession,
    bot_id: int,
    *,
    chat_id: int | None,
    update_id: int | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    owner: str = "",
) -> Claimed | None:
    """The next pending row of a chat (lowest update_id), its attempt counted and its owner
    recorded, in one statement. Chat-less rows are claimed by update_id. None also when that
    row waits for its retry time: a chat's later rows wait behind it. The caller holds the
    chat's lock."""
    pick = select(TelegramUpdate.id).where(
        TelegramUpdate.bot_id == bot_id,
        TelegramUpdate.status == PENDING,
        TelegramUpdate.attempts < max_attempts,
    )
    if chat_id is None:
        pick = pick.where(TelegramUpdate.chat_id.is_(None), TelegramUpdate.update_id == update_id)
    else:
        pick = pick.where(TelegramUpdate.chat_id == chat_id)
    stmt = (
        update(TelegramUpdate)
        .where(
            TelegramUpdate.id == pick.order_by(TelegramUpdate.update_id).limit(1).scalar_subquery(),
            TelegramUpdate.status == PENDING,
            or_(TelegramUpdate.retry_at.is_(None), TelegramUpdate.retry_at <= utcnow()),
        )
        .values(attempts=TelegramUpdate.attempts + 1, claimed_by=owner or None)
        .returning(
            TelegramUpdate.id,
            TelegramUpdate.update_id,
            TelegramUpdate.payload,
            TelegramUpdate.attempts,
        )
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    payload = dict(row.payload)
    user_id = user_of(payload)
    identity = await identity_of(session, user_id) if user_id is not None else None
    return Claimed(int(row.id), int(row.update_id), payload, int(row.attempts), identity, owner)


def _fenced(row: Claimed) -> Any:
    """The row as this claim left it: another claim (a takeover) changes attempts/owner."""
    return update(TelegramUpdate).where(
        TelegramUpdate.id == row.id,
        TelegramUpdate.attempts == row.attempts,
        TelegramUpdate.claimed_by.is_(None)
        if not row.owner
        else TelegramUpdate.claimed_by == row.owner,
    )


async def mark_done(session: AsyncSession, row: Claimed) -> bool:
    result = await session.execute(
        _fenced(row).values(status=DONE, processed_at=utcnow(), error=None, retry_at=None)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_failed(
    session: AsyncSession, row: Claimed, error: str, *, permanent: bool = False
) -> bool:
    """Failed; retried after a backoff while attempts are left. `permanent`: retrying cannot
    help (a malformed update): no attempts are left."""
    values: dict[str, Any] = {
        "status": FAILED,
        "error": error[:1000],
        "retry_at": utcnow() + _backoff(row.attempts),
    }
    if permanent:
        values["attempts"] = MAX_ATTEMPTS
    result = await session.execute(_fenced(row).values(values))
    return bool(getattr(result, "rowcount", 0))


async def mark_deferred(
    session: AsyncSession, row: Claimed, error: str, retry_at: datetime
) -> bool:
    """Back to pending until `retry_at`, the attempt given back: the turn failed only because
    PostgreSQL or Redis was away."""
    result = await session.execute(
        _fenced(row).values(
            status=PENDING,
            attempts=TelegramUpdate.attempts - 1,
            error=error[:1000],
            retry_at=retry_at,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def requeue_failed(
    session: AsyncSession, bot_id: int, max_attempts: int, *, due_only: bool = False
) -> int:
    """Failed rows with attempts left go back to pending (`due_only`: those whose retry time
    has come); rows out of attempts (failed, or pending after crashing every try) are
    dead-lettered as failed. Returns the requeued count."""
    requeue = (
        update(TelegramUpdate)
        .where(
            TelegramUpdate.bot_id == bot_id,
            TelegramUpdate.status == FAILED,
            TelegramUpdate.attempts < max_attempts,
        )
        .values(status=PENDING, retry_at=None)
    )
    if due_only:
        requeue = requeue.where(
            or_(TelegramUpdate.retry_at.is_(None), TelegramUpdate.retry_at <= utcnow())
        )
    requeued = await session.execute(requeue)
    if not due_only:  # at start: what waited for a backoff goes now
        await session.execute(
            update(TelegramUpdate)
            .where(
                TelegramUpdate.bot_id == bot_id,
                TelegramUpdate.status == PENDING,
                TelegramUpdate.retry_at.is_not(None),
            )
            .values(retry_at=None)
        )
    dead = await session.execute(
        update(TelegramUpdate)
        .where(
            TelegramUpdate.bot_id == bot_id,
            TelegramUpdate.status == PENDING,
            TelegramUpdate.attempts >= max_attempts,
        )
        .values(status=FAILED, error=func.coalesce(TelegramUpdate.error, "attempts exhausted"))
        .returning(TelegramUpdate.update_id, TelegramUpdate.payload, TelegramUpdate.error)
    )
    for update_id, payload, error in dead.all():
        if is_payment(dict(payload)):
            # money was taken and is still not credited: someone must look
            PAYMENT_ALERTS.inc()
            log.error("successful_payment dead-lettered", update_id=update_id, error=error)
        else:
            log.error("telegram update dead-lettered", update_id=update_id, error=error)
    return int(getattr(requeued, "rowcount", 0) or 0)


async def pending_keys(
    session: AsyncSession, bot_id: int, max_attempts: int, *, stale_before: datetime | None = None
) -> list[tuple[int | None, int]]:
    """(chat_id, first update_id) per chat with pending rows, chat-less rows one by one.
    `stale_before`: only rows due for a retry or older than that (rows being processed
    right now are young)."""
    stmt = (
        select(TelegramUpdate.chat_id, func.min(TelegramUpdate.update_id))
        .where(
            TelegramUpdate.bot_id == bot_id,
            TelegramUpdate.status == PENDING,
            TelegramUpdate.attempts < max_attempts,
        )
        .group_by(
            TelegramUpdate.chat_id,
            # chat-less rows are independent: one group each
            func.coalesce(TelegramUpdate.chat_id, TelegramUpdate.update_id),
        )
        .order_by(func.min(TelegramUpdate.update_id))
    )
    if stale_before is not None:
        now = utcnow()
        stmt = stmt.where(
            or_(
                TelegramUpdate.retry_at <= now,
                TelegramUpdate.retry_at.is_(None) & (TelegramUpdate.created_at <= stale_before),
            )
        )
    return [(chat, int(first)) for chat, first in (await session.execute(stmt)).all()]


# --- Telegram identities -------------------------------------------------------------------------


async def identity_of(session: AsyncSession, telegram_user_id: int) -> tuple[int, str] | None:
    """(customer_id, customer locale) linked to a Telegram user, if any."""
    stmt = (
        select(ChannelIdentity.customer_id, Customer.locale)
        .join(Customer, Customer.id == ChannelIdentity.customer_id)
        .where(
            ChannelIdentity.channel == Channel.telegram,
            ChannelIdentity.external_id == str(telegram_user_id),
        )
    )
    row = (await session.execute(stmt)).first()
    return (int(row[0]), str(row[1])) if row is not None else None


async def set_reachable(
    session: AsyncSession, telegram_user_id: int, reachable: bool, reason: str | None
) -> bool:
    """Mark the Telegram identity (un)reachable; False when the user is not linked."""
    result = await session.execute(
        update(ChannelIdentity)
        .where(
            ChannelIdentity.channel == Channel.telegram,
            ChannelIdentity.external_id == str(telegram_user_id),
        )
        .values(
            is_reachable=reachable,
            unreachable_reason=None if reachable else reason,
            last_seen_at=utcnow(),
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def active_tariff_names(session: AsyncSession) -> list[str]:
    """For the NLU's tariff entity."""
    return list(await session.scalars(select(Tariff.name).where(Tariff.is_active)))


# --- chat locks owned by a process -------------------------------------------------------------

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
INBOX_KEY = "inbox"  # the dispatcher's workflow data holding its Inbox


def _lock_key(bot_id: int, chat_id: int | None, update_id: int) -> str:
    return (
        f"tg:inbox:{bot_id}:{chat_id}" if chat_id is not None else f"tg:inbox:{bot_id}:u{update_id}"
    )


def _owner_of(token: str) -> str:
    return token.rpartition(":")[0]


@dataclass(eq=False)
class Inbox:
    """One bot's inbox in this process: its identity, the chat locks it holds, and the
    backoff of the rows it retries. Made once per Dispatcher (`inbox_of`)."""

    resources: Resources
    owner: str = field(
        default_factory=lambda: (
            f"{socket.gethostname()[:40]}-{os.getpid()}-{next(_INSTANCES)}-{secrets.token_hex(3)}"
        )
    )
    held: dict[str, str] = field(default_factory=dict)  # lock key -> token
    unreleased: dict[str, str] = field(default_factory=dict)  # releases Redis refused
    retries: dict[int, int] = field(default_factory=dict)  # row id -> deferrals so far
    wake: asyncio.Event = field(default_factory=asyncio.Event)
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
        releases Redis refused. Run every KEEP_INTERVAL by maintain()."""
        await self.sign_of_life(force=True)
        for key, token in list(self.held.items()):
            kept = await self.redis.eval(_EXTEND, 1, key, token, LOCK_TTL * 1000)
            if not kept and self.held.get(key) == token:
                # another owner took it (we looked dead): the claim fence keeps our outcome out
                log.warning("telegram chat lock lost", key=key)
        for key, token in list(self.unreleased.items()):
            await self.redis.eval(_RELEASE, 1, key, token)
            self.unreleased.pop(key, None)


def inbox_of(resources: Resources, dispatcher: Dispatcher) -> Inbox:
    found = dispatcher.workflow_data.get(INBOX_KEY)
    if not isinstance(found, Inbox):
        found = Inbox(resources)
        dispatcher.workflow_data[INBOX_KEY] = found
    return found


# --- processing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    error: str | None = None  # None: done
    permanent: bool = False
    outage: bool = False  # PostgreSQL or Redis was away: retried, no attempt spent


async def _process(bot: Bot, dispatcher: Dispatcher, row: Claimed) -> _Outcome:
    try:
        update_obj = Update.model_validate(row.payload, context={"bot": bot})
    except ValidationError as exc:
        log.error("malformed telegram update", update_id=row.update_id)
        return _Outcome(f"invalid update: {exc}", permanent=True)
    try:
        await dispatcher.feed_update(bot, update_obj, **{PREFETCHED_IDENTITY: row.identity})
    except Exception as exc:  # the row keeps the reason and is retried
        if is_outage(exc):
            log.warning(
                "telegram update deferred: database or redis unavailable",
                update_id=row.update_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            return _Outcome(f"{type(exc).__name__}: {exc}", outage=True)
        log.exception("telegram update failed", update_id=row.update_id, attempts=row.attempts)
        return _Outcome(f"{type(exc).__name__}: {exc}")
    return _Outcome()


def _note_payment_failure(inbox: Inbox, row: Claimed, outcome: _Outcome) -> None:
    """Money already taken and not credited yet: count every failure, alert when it repeats."""
    PAYMENT_FAILURES.labels(reason="outage" if outcome.outage else "error").inc()
    failures = row.attempts + inbox.retries.get(row.id, 0) - (1 if outcome.outage else 0)
    if failures >= PAYMENT_ALERT_AFTER:
        PAYMENT_ALERTS.inc()
        log.error(
            "successful_payment keeps failing",
            update_id=row.update_id,
            failures=failures,
            error=outcome.error,
        )


async def _record(session: AsyncSession, inbox: Inbox, row: Claimed, outcome: _Outcome) -> bool:
    if outcome.error is None:
        inbox.retries.pop(row.id, None)
        written = await mark_done(session, row)
    elif outcome.outage:
        retry = inbox.retries[row.id] = inbox.retries.get(row.id, 0) + 1
        written = await mark_deferred(session, row, outcome.error, utcnow() + _backoff(retry))
    else:
        written = await mark_failed(session, row, outcome.error, permanent=outcome.permanent)
    if not written:
        log.warning("telegram update claimed by another process", update_id=row.update_id)
    return written


async def _record_and_claim_next(
    resources: Resources,
    bot: Bot,
    inbox: Inbox,
    row: Claimed,
    outcome: _Outcome,
    chat_id: int | None,
    update_id: int,
    max_attempts: int,
) -> Claimed | None:
    """Write the outcome and claim the chat's next row in one transaction. While PostgreSQL
    is away the outcome waits (with backoff) instead of being dropped: a turn whose replies
    were sent must not be run again."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECORD_PATIENCE
    tries = 0
    while True:
        try:
            async with unit_of_work(resources.sessionmaker) as session:
                await _record(session, inbox, row, outcome)
                if outcome.outage:
                    return None  # the chat waits for this row's retry
                return await claim_pending(
                    session, bot.id, chat_id=chat_id, update_id=update_id,
                    max_attempts=max_attempts, owner=inbox.owner,
                )  # fmt: skip
        except Exception as exc:
            if not is_outage(exc) or loop.time() >= deadline:
                raise
            tries += 1
            if outcome.outage:
                inbox.retries[row.id] = max(0, inbox.retries.get(row.id, 1) - 1)
            await asyncio.sleep(RETRY_BACKOFF[min(tries - 1, len(RETRY_BACKOFF) - 1)])


async def _drain_held(
    resources: Resources,
    bot: Bot,
    dispatcher: Dispatcher,
    chat_id: int | None,
    update_id: int,
    row: Claimed | None,
    max_attempts: int,
) -> int:
    """With the chat's lock held: process `row` (claimed already, or None to claim first) and
    the chat's next pending rows. Each outcome is written in the transaction that claims the
    next row: two statements, one round of BEGIN/COMMIT per update."""
    inbox = inbox_of(resources, dispatcher)
    if row is None:
        async with unit_of_work(resources.sessionmaker) as session:
            row = await claim_pending(
                session, bot.id, chat_id=chat_id, update_id=update_id,
                max_attempts=max_attempts, owner=inbox.owner,
            )  # fmt: skip
    processed = 0
    while row is not None:
        outcome = await _process(bot, dispatcher, row)
        processed += 1
        if outcome.error is not None:
            if is_payment(row.payload):
                _note_payment_failure(inbox, row, outcome)
            inbox.wake.set()  # the retry sweep comes back for it
        row = await _record_and_claim_next(
            resources, bot, inbox, row, outcome, chat_id, update_id, max_attempts
        )
    return processed


async def drain(
    resources: Resources,
    bot: Bot,
    dispatcher: Dispatcher,
    chat_id: int | None,
    update_id: int,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    wait: float = LOCK_WAIT,
) -> int:
    """Under the chat's lock, process its pending rows in update_id order. Returns how many
    were processed. A lock not obtained in time (or Redis or PostgreSQL away) leaves the rows
    to their holder or to the retry sweep; nothing is lost."""
    inbox = inbox_of(resources, dispatcher)
    key = _lock_key(bot.id, chat_id, update_id)
    try:
        if not await inbox.acquire(key, wait):
            if wait > 0:
                log.info("telegram chat busy: left to its holder", chat_id=chat_id)
            return 0
        try:
            return await _drain_held(
                resources, bot, dispatcher, chat_id, update_id, None, max_attempts
            )
        finally:
            await inbox.release(key)
    except Exception as exc:
        inbox.wake.set()
        if not is_outage(exc):
            raise
        log.warning(
            "telegram chat deferred: database or redis unavailable",
            chat_id=chat_id,
            error=f"{type(exc).__name__}: {exc}",
        )
        return 0


async def process_update(
    resources: Resources, bot: Bot, dispatcher: Dispatcher, update_json: dict[str, Any]
) -> bool:
    """Store, then process (this chat's pending rows, in order). Returns whether the update
    was new; a redelivered update_id changes nothing. Raises only if storing fails - then the
    caller must not acknowledge the update.

    The usual case - nobody else is working on the chat - takes the lock first and stores and
    claims in one transaction; otherwise the update is stored at once and waits for the lock.
    Either way it is stored before this returns."""
    chat_id, update_id = chat_of(update_json), int(update_json["update_id"])
    inbox = inbox_of(resources, dispatcher)
    key = _lock_key(bot.id, chat_id, update_id)
    try:
        held = await inbox.try_acquire(key)
    except RedisError:
        held = False  # store first regardless; the retry sweep processes it once Redis is back
    if not held:
        async with unit_of_work(resources.sessionmaker) as session:
            new = await store(session, bot.id, update_json)
        try:
            await drain(resources, bot, dispatcher, chat_id, update_id)
        except Exception:  # stored: the retry sweep processes it
            log.exception("telegram update stored, processing deferred", update_id=update_id)
        return new
    try:
        async with unit_of_work(resources.sessionmaker) as session:
            new = await store(session, bot.id, update_json)
            row = await claim_pending(
                session, bot.id, chat_id=chat_id, update_id=update_id, owner=inbox.owner
            )
        try:
            await _drain_held(resources, bot, dispatcher, chat_id, update_id, row, MAX_ATTEMPTS)
        except Exception:  # stored: the retry sweep processes it
            inbox.wake.set()
            log.exception("telegram update stored, processing deferred", update_id=update_id)
    finally:
        await inbox.release(key)
    return new


async def sweep(
    resources: Resources,
    bot: Bot,
    dispatcher: Dispatcher,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    stale_after: timedelta | None = STALE_AFTER,
    concurrency: int = 8,
) -> int:
    """One retry round: failed rows whose backoff is over go back to pending, and each chat
    with pending rows that are due (deferred, or older than `stale_after`: left by a dead
    process, a lost lock, an outage) is drained - unless a live process holds the chat.
    `stale_after=None`: every pending row (at start). Returns the number processed."""
    async with unit_of_work(resources.sessionmaker) as session:
        await requeue_failed(session, bot.id, max_attempts, due_only=stale_after is not None)
        stale_before = utcnow() - stale_after if stale_after is not None else None
        keys = await pending_keys(session, bot.id, max_attempts, stale_before=stale_before)
    slots = asyncio.Semaphore(concurrency)

    async def one(chat_id: int | None, first: int) -> int:
        async with slots:
            return await drain(
                resources, bot, dispatcher, chat_id, first, max_attempts=max_attempts, wait=0
            )

    done = await asyncio.gather(*(one(c, f) for c, f in keys), return_exceptions=True)
    for result in done:
        if isinstance(result, BaseException):
            log.error("telegram retry failed", error=f"{type(result).__name__}: {result}")
    return sum(r for r in done if isinstance(r, int))


async def recover(
    resources: Resources, bot: Bot, dispatcher: Dispatcher, *, max_attempts: int = MAX_ATTEMPTS
) -> int:
    """Process what a crash (or a failure) left behind; run at start. Chats a process that is
    still alive holds are left to it; a dead one's are taken over (or, while its liveness key
    lasts, by maintain() a few seconds later). Returns the number of rows processed."""
    processed = await sweep(resources, bot, dispatcher, max_attempts=max_attempts, stale_after=None)
    if processed:
        log.info("telegram inbox recovered", processed=processed)
    return processed


async def maintain(
    resources: Resources,
    bot: Bot,
    dispatcher: Dispatcher,
    stop: asyncio.Event,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    concurrency: int = 8,
) -> None:
    """The running process's side of "nothing lost": a sign of life and the held locks kept
    every KEEP_INTERVAL, and the retry sweep every SWEEP_INTERVAL (sooner after a failure).
    Survives PostgreSQL and Redis being away; runs until `stop` is set."""
    inbox = inbox_of(resources, dispatcher)
    loop = asyncio.get_running_loop()

    async def keeper() -> None:
        failing = False
        while not stop.is_set():
            try:
                await inbox.keep()
                if failing:
                    log.info("telegram inbox keep resumed")
                failing = False
            except Exception as exc:  # Redis away: the next round tries again
                if not failing:
                    log.warning("telegram inbox keep failed", error=f"{type(exc).__name__}: {exc}")
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), KEEP_INTERVAL)

    keeping = asyncio.create_task(keeper())
    failures = 0
    next_sweep = loop.time() + SWEEP_INTERVAL
    try:
        while not stop.is_set():
            delay = max(0.0, next_sweep - loop.time())
            if failures:  # PostgreSQL or Redis away: look again soon, they may be back
                delay = min(
                    SWEEP_BACKOFF_MAX, RETRY_BACKOFF[min(failures - 1, len(RETRY_BACKOFF) - 1)]
                )
            waiter = asyncio.ensure_future(inbox.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=delay, return_when="FIRST_COMPLETED")
            for f in (waiter, stopper):
                f.cancel()
            if stop.is_set():
                break
            if inbox.wake.is_set():
                inbox.wake.clear()
                # a failure just happened: come back once the first backoff is over
                await asyncio.sleep(RETRY_BACKOFF[0])
            try:
                processed = await sweep(
                    resources, bot, dispatcher, max_attempts=max_attempts, concurrency=concurrency
                )
                failures = 0
                if processed:
                    log.info("telegram inbox retried", processed=processed)
            except Exception as exc:
                failures += 1
                log.warning("telegram retry sweep failed", error=f"{type(exc).__name__}: {exc}")
            next_sweep = loop.time() + SWEEP_INTERVAL
    finally:
        keeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeping
