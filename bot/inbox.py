"""The Telegram inbox (reliability.md, "Nothing lost", rule 1) and the bot package's SQL.

Every update is stored (unique per bot and update_id) before it is acknowledged - before the
webhook answers 200, before polling advances its offset - and only then processed, so a crash
loses nothing and a redelivery is a no-op.

Ordering and exactly-once across processes: a Redis lock per chat (`tg:inbox:{bot}:{chat}`).
Whoever holds it drains that chat's pending rows in update_id order, one at a time; a process
that stored a row while another held the lock finds it already done. We lock here rather than
with aiogram's RedisEventIsolation because isolation only serialises handlers that run: it
neither orders a chat's updates by update_id nor knows that a row was already processed by
another process, and recovery after a crash runs outside the dispatcher's event flow.

Updates without a chat (pre_checkout_query, inline queries) are processed on their own, under
a lock on their update_id: a pre-checkout must be answered within 10 seconds and must not wait
behind a chat's slow turns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from pydantic import ValidationError
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import unit_of_work
from backend.logging import get_logger
from backend.models import ChannelIdentity, Customer, Tariff, TelegramUpdate, utcnow
from backend.models.enums import Channel
from backend.state import Resources

log = get_logger("bot.inbox")

PENDING, DONE, FAILED = "pending", "done", "failed"
# The dispatcher's keyword with the sender's (customer_id, locale), read when the row was
# claimed; bot.handlers.IdentityMiddleware queries only when it is absent.
PREFETCHED_IDENTITY = "inbox_identity"
BLOCKED_BY_USER = "blocked_by_user"  # why an identity is unreachable: the bot answered 403
# Claims per row (counted before processing, so an update that crashes the process on every
# try is dead-lettered instead of looping across restarts).
MAX_ATTEMPTS = 5
LOCK_TTL = 60  # seconds: a crashed holder's lock expires by itself
LOCK_WAIT = 30  # seconds to wait for a chat's lock before leaving the row to recovery
LOCK_POLL = 0.02  # seconds between tries: a chat's next update waits one turn, not 100 ms more
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


# --- the inbox table ---------------------------------------------------------------------------


async def store(session: AsyncSession, bot_id: int, update_json: dict[str, Any]) -> bool:
    """Insert the update unless (bot_id, update_id) is known; True when it is new."""
    update_id = update_json.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise ValueError("an update without an integer update_id")
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
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


async def claim_pending(
    session: AsyncSession,
    bot_id: int,
    *,
    chat_id: int | None,
    update_id: int | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> Claimed | None:
    """The next pending row of a chat (lowest update_id), its attempt counted, in one
    statement. Chat-less rows are claimed by update_id. The caller holds the chat's lock."""
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
            TelegramUpdate.id == pick.order_by(TelegramUpdate.update_id).limit(1).scalar_subquery()
        )
        .values(attempts=TelegramUpdate.attempts + 1)
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
    return Claimed(int(row.id), int(row.update_id), payload, int(row.attempts), identity)


async def mark_done(session: AsyncSession, row_id: int) -> None:
    await session.execute(
        update(TelegramUpdate)
        .where(TelegramUpdate.id == row_id)
        .values(status=DONE, processed_at=utcnow(), error=None)
    )


async def mark_failed(
    session: AsyncSession, row_id: int, error: str, *, permanent: bool = False
) -> None:
    """`permanent`: retrying cannot help (a malformed update): no attempts are left."""
    values: dict[str, Any] = {"status": FAILED, "error": error[:1000]}
    if permanent:
        values["attempts"] = MAX_ATTEMPTS
    await session.execute(update(TelegramUpdate).where(TelegramUpdate.id == row_id).values(values))


async def requeue_failed(session: AsyncSession, bot_id: int, max_attempts: int) -> int:
    """Failed rows with attempts left go back to pending; rows out of attempts (failed, or
    pending after crashing every try) are dead-lettered as failed. Returns the requeued count."""
    requeued = await session.execute(
        update(TelegramUpdate)
        .where(
            TelegramUpdate.bot_id == bot_id,
            TelegramUpdate.status == FAILED,
            TelegramUpdate.attempts < max_attempts,
        )
        .values(status=PENDING)
    )
    await session.execute(
        update(TelegramUpdate)
        .where(
            TelegramUpdate.bot_id == bot_id,
            TelegramUpdate.status == PENDING,
            TelegramUpdate.attempts >= max_attempts,
        )
        .values(status=FAILED, error=func.coalesce(TelegramUpdate.error, "attempts exhausted"))
    )
    return int(getattr(requeued, "rowcount", 0) or 0)


async def pending_keys(
    session: AsyncSession, bot_id: int, max_attempts: int
) -> list[tuple[int | None, int]]:
    """(chat_id, first update_id) per chat with pending rows, chat-less rows one by one."""
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


# --- processing ------------------------------------------------------------------------------


def _lock_key(bot_id: int, chat_id: int | None, update_id: int) -> str:
    return (
        f"tg:inbox:{bot_id}:{chat_id}" if chat_id is not None else f"tg:inbox:{bot_id}:u{update_id}"
    )


@dataclass(frozen=True, slots=True)
class _Outcome:
    error: str | None = None  # None: done
    permanent: bool = False


async def _process(bot: Bot, dispatcher: Dispatcher, row: Claimed) -> _Outcome:
    try:
        update_obj = Update.model_validate(row.payload, context={"bot": bot})
    except ValidationError as exc:
        log.error("malformed telegram update", update_id=row.update_id)
        return _Outcome(f"invalid update: {exc}", permanent=True)
    try:
        await dispatcher.feed_update(bot, update_obj, **{PREFETCHED_IDENTITY: row.identity})
    except Exception as exc:  # the row keeps the reason and is retried by recover()
        log.exception("telegram update failed", update_id=row.update_id, attempts=row.attempts)
        return _Outcome(f"{type(exc).__name__}: {exc}")
    return _Outcome()


async def _record(session: AsyncSession, row: Claimed, outcome: _Outcome) -> None:
    if outcome.error is None:
        await mark_done(session, row.id)
    else:
        await mark_failed(session, row.id, outcome.error, permanent=outcome.permanent)


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
    if row is None:
        async with unit_of_work(resources.sessionmaker) as session:
            row = await claim_pending(
                session, bot.id, chat_id=chat_id, update_id=update_id, max_attempts=max_attempts
            )
    processed = 0
    while row is not None:
        outcome = await _process(bot, dispatcher, row)
        processed += 1
        async with unit_of_work(resources.sessionmaker) as session:
            await _record(session, row, outcome)
            row = await claim_pending(
                session, bot.id, chat_id=chat_id, update_id=update_id, max_attempts=max_attempts
            )
    return processed


def _lock(resources: Resources, bot_id: int, chat_id: int | None, update_id: int) -> Lock:
    return resources.redis.lock(
        _lock_key(bot_id, chat_id, update_id),
        timeout=LOCK_TTL,
        blocking_timeout=LOCK_WAIT,
        sleep=LOCK_POLL,
    )


async def drain(
    resources: Resources,
    bot: Bot,
    dispatcher: Dispatcher,
    chat_id: int | None,
    update_id: int,
    *,
    max_attempts: int = MAX_ATTEMPTS,
) -> int:
    """Under the chat's lock, process its pending rows in update_id order. Returns how many
    were processed. A lock not obtained in time leaves the rows for their holder/recovery."""
    try:
        async with _lock(resources, bot.id, chat_id, update_id):
            return await _drain_held(
                resources, bot, dispatcher, chat_id, update_id, None, max_attempts
            )
    except LockError:
        # not obtained in time, or expired under a very slow turn: nothing is lost, the rows
        # stay pending for the holder's drain or for recover()
        log.warning("telegram chat lock not held", chat_id=chat_id, update_id=update_id)
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
    lock = _lock(resources, bot.id, chat_id, update_id)
    try:
        held = bool(await lock.acquire(blocking=False))
    except RedisError:
        held = False  # store first regardless; the drain below reports Redis's failure
    if not held:
        async with unit_of_work(resources.sessionmaker) as session:
            new = await store(session, bot.id, update_json)
        try:
            await drain(resources, bot, dispatcher, chat_id, update_id)
        except Exception:  # stored: the chat's next update or the next start processes it
            log.exception("telegram update stored, processing deferred", update_id=update_id)
        return new
    try:
        async with unit_of_work(resources.sessionmaker) as session:
            new = await store(session, bot.id, update_json)
            row = await claim_pending(session, bot.id, chat_id=chat_id, update_id=update_id)
        try:
            await _drain_held(resources, bot, dispatcher, chat_id, update_id, row, MAX_ATTEMPTS)
        except Exception:  # stored: the chat's next update or the next start processes it
            log.exception("telegram update stored, processing deferred", update_id=update_id)
    finally:
        try:
            await lock.release()
        except LockError:
            log.warning("telegram chat lock expired", chat_id=chat_id, update_id=update_id)
    return new


async def recover(
    resources: Resources, bot: Bot, dispatcher: Dispatcher, *, max_attempts: int = MAX_ATTEMPTS
) -> int:
    """Process what a crash (or a failure) left behind; run at start. Returns the number of
    rows processed."""
    async with unit_of_work(resources.sessionmaker) as session:
        await requeue_failed(session, bot.id, max_attempts)
        keys = await pending_keys(session, bot.id, max_attempts)
    processed = 0
    for chat_id, first_update_id in keys:
        processed += await drain(
            resources, bot, dispatcher, chat_id, first_update_id, max_attempts=max_attempts
        )
    if processed:
        log.info("telegram inbox recovered", processed=processed)
    return processed
