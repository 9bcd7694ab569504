"""The Telegram inbox table, `telegram_updates`: its SQL and nothing else (docs/reliability.md,
"Nothing is lost", rule 1). The processing that drives it is bot/inbox.py.

Which statements run under a chat's lock (bot/chat_locks.py):
- `claim_pending` and the `mark_*` outcomes run while the caller holds the chat's lock: the
  lock is what orders a chat's rows by update_id and keeps two processes from running one row
  at once. The outcome does not rely on the lock alone: a claim records its owner
  (`claimed_by`) and attempt, and an outcome is written only where both still match, so a
  process that lost the lock to a takeover cannot overwrite the new owner's result.
- `store` needs no lock: an update is stored (unique per bot and update_id) before it is
  acknowledged, whoever holds its chat, and a redelivery is a no-op.
- `requeue_failed`, `dead_letter` and `pending_keys` run in the retry sweep, outside any chat
  lock: they only choose what the sweep drains next, each chat then under its lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import utcnow
from backend.db import dialect_insert
from backend.models import TelegramUpdate

PENDING, DONE, FAILED = "pending", "done", "failed"
# Claims per row (counted before processing, so an update that crashes the process on every
# try is dead-lettered instead of looping across restarts). A turn deferred by an outage gives
# its attempt back.
MAX_ATTEMPTS = 5
RETRY_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before retry 1, 2, ...

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


def backoff(retry: int) -> timedelta:
    """How long retry number `retry` (1, 2, ...) waits."""
    return timedelta(seconds=RETRY_BACKOFF[min(max(retry - 1, 0), len(RETRY_BACKOFF) - 1)])


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
    """A row claimed for processing: `attempts` and `owner` as the claim wrote them, which
    fence its outcome."""

    id: int
    update_id: int
    payload: dict[str, Any]
    attempts: int
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
    return Claimed(int(row.id), int(row.update_id), dict(row.payload), int(row.attempts), owner)


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
        "retry_at": utcnow() + backoff(row.attempts),
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
    has come; else, at start, pending rows waiting for a backoff go now too). Returns the
    requeued count."""
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
    return int(getattr(requeued, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    update_id: int
    payload: dict[str, Any]
    error: str | None


async def dead_letter(session: AsyncSession, bot_id: int, max_attempts: int) -> list[DeadLetter]:
    """Pending rows out of attempts (they crashed every try) become failed for good; returns
    them, for the caller to log and alert on."""
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
    return [DeadLetter(int(u), dict(p), e) for u, p, e in dead.all()]


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
