"""Delivery of what the agent side writes for a Telegram customer: agent replies (text or a
document) and the "an operator joined / left / closed" notices. dialogs.handover stores each as
a transcript row plus an outbox row `conversation.agent_reply` {conversation_id, message_id,
channel, chat_id}; the notification worker leaves these to the channel adapters, and this loop
is the Telegram one.

Rows are claimed under a lease like notifications.repository does (and marked with its fenced
functions), sent in id order, then marked done. The user blocked the bot -> the identity is
unreachable and the row dead; a 429 -> the row waits retry_after without spending an attempt
(later rows of the same chat in the batch wait too, so the chat keeps its order); anything
else -> retried with backoff, dead after MAX_ATTEMPTS."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from sqlalchemy import Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import utcnow
from backend.db import unit_of_work
from backend.logging import get_logger
from backend.models import (
    Conversation,
    ConversationMessage,
    OutboxMessage,
    OutboxStatus,
)
from backend.state import Resources
from bot import lookups
from bot.render import send_outbound
from dialogs.handover import AGENT_REPLY
from dialogs.types import Outbound, Text, outbound_from_dict
from notifications import repository as outbox_repo
from notifications.repository import ClaimedMessage

log = get_logger("bot.delivery")

CHANNEL = "telegram"
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 6
BACKOFF = (5.0, 30.0, 120.0, 600.0, 1800.0)  # seconds before attempt 2, 3, ...
POLL_INTERVAL = 1.0
BATCH = 50

outbox = cast(Table, OutboxMessage.__table__)


@dataclass(frozen=True, slots=True)
class StoredReply:
    item: Outbound
    locale: str | None


# --- queries -----------------------------------------------------------------------------------


async def claim_batch(
    session: AsyncSession, *, limit: int, now: datetime, lease_until: datetime
) -> list[ClaimedMessage]:
    """Claim due `conversation.agent_reply` rows of the Telegram channel, oldest first (the
    widget's rows are left to the widget), with the outbox's own claim."""
    return await outbox_repo.claim_batch(
        session,
        limit=limit,
        now=now,
        lease_until=lease_until,
        only=and_(outbox.c.kind == AGENT_REPLY, outbox.c.payload["channel"].as_string() == CHANNEL),
    )


async def postpone(
    session: AsyncSession, message: ClaimedMessage, available_at: datetime, note: str
) -> bool:
    """Back to pending until `available_at` without spending an attempt (flood control is
    not a failure of the row). Fenced like the repository's marks."""
    result = await session.execute(
        update(outbox)
        .where(
            outbox.c.id == message.id,
            outbox.c.status == OutboxStatus.processing,
            outbox.c.attempts == message.attempts,
        )
        .values(
            status=OutboxStatus.pending,
            available_at=available_at,
            attempts=outbox.c.attempts - 1,
            locked_until=None,
            last_error=note[: outbox_repo.LAST_ERROR_MAX],
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def stored_reply(session: AsyncSession, message_id: int) -> StoredReply | None:
    row = (
        await session.execute(
            select(ConversationMessage.text, ConversationMessage.payload, Conversation.locale)
            .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
            .where(ConversationMessage.id == message_id)
        )
    ).first()
    if row is None:
        return None
    data = (row.payload or {}).get("item")
    # a row stored without an item (older data) still has its text
    item: Outbound = outbound_from_dict(data) if isinstance(data, dict) else Text(row.text or "")
    return StoredReply(item=item, locale=row.locale)


# --- delivery ----------------------------------------------------------------------------------


def _backoff(attempts: int) -> float:
    return BACKOFF[min(max(attempts - 1, 0), len(BACKOFF) - 1)]


async def _deliver_one(resources: Resources, bot: Bot, message: ClaimedMessage) -> bool:
    """Send one claimed row and record the outcome; True when it was sent. TelegramRetryAfter
    propagates (the caller postpones the chat)."""
    sessionmaker = resources.sessionmaker
    try:
        chat_id = int(message.payload["chat_id"])
        message_id = int(message.payload["message_id"])
    except (KeyError, TypeError, ValueError):
        async with unit_of_work(sessionmaker) as session:
            await outbox_repo.mark_dead(session, message, "bad payload", utcnow())
        return False
    async with unit_of_work(sessionmaker) as session:
        reply = await stored_reply(session, message_id)
    if reply is None:
        async with unit_of_work(sessionmaker) as session:
            await outbox_repo.mark_dead(session, message, "message not found", utcnow())
        return False
    try:
        await send_outbound(bot, chat_id, [reply.item], resources=resources, locale=reply.locale)
    except TelegramRetryAfter:
        raise
    except TelegramForbiddenError:
        async with unit_of_work(sessionmaker) as session:
            # private chats only: the chat id is the user's id
            await lookups.set_reachable(
                session, chat_id, reachable=False, reason=lookups.BLOCKED_BY_USER
            )
            await outbox_repo.mark_dead(session, message, lookups.BLOCKED_BY_USER, utcnow())
        log.info("agent reply not delivered: bot blocked", chat_id=chat_id, outbox_id=message.id)
        return False
    except Exception as exc:  # any failure is retried, then dead
        error = f"{type(exc).__name__}: {exc}"
        async with unit_of_work(sessionmaker) as session:
            if message.attempts >= MAX_ATTEMPTS:
                await outbox_repo.mark_dead(session, message, error, utcnow())
                log.error("agent reply dead", outbox_id=message.id, error=error)
            else:
                retry_at = utcnow() + timedelta(seconds=_backoff(message.attempts))
                await outbox_repo.mark_retry(session, message, error, retry_at)
                log.warning("agent reply failed", outbox_id=message.id, error=error)
        return False
    async with unit_of_work(sessionmaker) as session:
        await outbox_repo.mark_done(session, message, utcnow())
    return True


async def deliver_agent_replies(resources: Resources, bot: Bot, *, limit: int = 50) -> int:
    """One round: claim due Telegram agent replies and send them. Returns how many were sent."""
    now = utcnow()
    async with unit_of_work(resources.sessionmaker) as session:
        batch = await claim_batch(session, limit=limit, now=now, lease_until=now + LEASE)
    sent = 0
    # chat -> when it may be written to again (a 429 on one row holds that chat's later rows)
    held: dict[str, datetime] = {}
    for message in batch:
        chat = str(message.payload.get("chat_id"))
        if chat in held:
            async with unit_of_work(resources.sessionmaker) as session:
                await postpone(session, message, held[chat], "waiting behind a flood wait")
            continue
        try:
            delivered = await _deliver_one(resources, bot, message)
        except TelegramRetryAfter as exc:
            until = utcnow() + timedelta(seconds=float(exc.retry_after))
            held[chat] = until
            async with unit_of_work(resources.sessionmaker) as session:
                await postpone(session, message, until, f"retry after {exc.retry_after}s")
            log.info("agent reply flood wait", chat_id=chat, retry_after=exc.retry_after)
            continue
        sent += int(delivered)
    return sent


async def run_delivery_loop(
    resources: Resources, bot: Bot, stop: asyncio.Event, *, interval: float = POLL_INTERVAL
) -> None:
    """Deliver agent replies until `stop` is set: a full batch goes again at once, otherwise
    the loop sleeps `interval`. A failing round (database down) is logged and retried."""
    while not stop.is_set():
        full = False
        try:
            full = await deliver_agent_replies(resources, bot, limit=BATCH) >= BATCH
        except Exception as exc:  # the loop must outlive a bad round
            log.error("agent reply delivery round failed", error=f"{type(exc).__name__}: {exc}")
        if full:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
