"""Every query of outbox delivery: claim a batch under a lease, then mark each row done,
retried or dead; and the web chat channel's two (the customer's conversation, the notice in it).

A claim sets status=processing, a lease (locked_until) and attempts+1. The marks are fenced on
(status, attempts): a worker whose lease ran out and whose row was claimed again by another
worker cannot overwrite the newer claim's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import utcnow
from backend.db import dialect_insert
from backend.models import (
    Channel,
    Conversation,
    ConversationMessage,
    Customer,
    MessageDirection,
    MessageSender,
    OutboxMessage,
    OutboxStatus,
)
from dialogs.types import Text, to_dict
from notifications.events import Recipient

outbox = cast(Table, OutboxMessage.__table__)

LAST_ERROR_MAX = 500


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def _due(now: datetime) -> Any:
    # A processing row whose lease ran out belongs to a worker that died mid-batch.
    return or_(
        and_(outbox.c.status == OutboxStatus.pending, outbox.c.available_at <= now),
        and_(outbox.c.status == OutboxStatus.processing, outbox.c.locked_until < now),
    )


async def claim_batch(
    session: AsyncSession,
    *,
    limit: int,
    now: datetime,
    lease_until: datetime,
    exclude_kinds: frozenset[str] = frozenset(),
    only: Any = None,
) -> list[ClaimedMessage]:
    """Claim up to `limit` due rows, oldest first, leaving `exclude_kinds` to their own
    consumers; `only` (a SQL condition) narrows the claim to one consumer's rows. On
    PostgreSQL concurrent workers get disjoint rows (FOR UPDATE SKIP LOCKED); SQLite
    serialises writers, and the embedded default runs one worker."""
    candidates = select(outbox.c.id).where(_due(now)).order_by(outbox.c.id).limit(limit)
    if exclude_kinds:
        candidates = candidates.where(outbox.c.kind.not_in(sorted(exclude_kinds)))
    if only is not None:
        candidates = candidates.where(only)
    claim = update(outbox).values(
        status=OutboxStatus.processing,
        locked_until=lease_until,
        attempts=outbox.c.attempts + 1,
    )
    if session.get_bind().dialect.name == "postgresql":
        c = candidates.with_for_update(skip_locked=True).cte("c")
        stmt = claim.where(outbox.c.id == c.c.id)
    else:
        stmt = claim.where(outbox.c.id.in_(candidates))
    result = await session.execute(
        stmt.returning(outbox.c.id, outbox.c.kind, outbox.c.payload, outbox.c.attempts)
    )
    rows = [
        ClaimedMessage(id=r.id, kind=r.kind, payload=dict(r.payload or {}), attempts=r.attempts)
        for r in result
    ]
    return sorted(rows, key=lambda m: m.id)


def scrubbed(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without the values named in "secret_args" (a one-time code must not stay
    in the database once the message is out)."""
    secret = payload.get("secret_args") or []
    args = payload.get("args")
    if not secret or not isinstance(args, dict):
        return payload
    return {**payload, "args": {k: v for k, v in args.items() if k not in secret}}


def _claimed_by(message: ClaimedMessage) -> Any:
    return and_(
        outbox.c.id == message.id,
        outbox.c.status == OutboxStatus.processing,
        outbox.c.attempts == message.attempts,
    )


async def _mark(session: AsyncSession, message: ClaimedMessage, **values: Any) -> bool:
    result = await session.execute(
        update(outbox).where(_claimed_by(message)).values(locked_until=None, **values)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_done(
    session: AsyncSession, message: ClaimedMessage, now: datetime, note: str | None = None
) -> bool:
    """`note` says why a row is done without a send (the customer opted out)."""
    return await _mark(
        session,
        message,
        status=OutboxStatus.done,
        processed_at=now,
        last_error=note,
        payload=scrubbed(message.payload),
    )


async def mark_retry(
    session: AsyncSession, message: ClaimedMessage, error: str, available_at: datetime
) -> bool:
    return await _mark(
        session,
        message,
        status=OutboxStatus.pending,
        available_at=available_at,
        last_error=error[:LAST_ERROR_MAX],
    )


async def mark_dead(
    session: AsyncSession, message: ClaimedMessage, error: str, now: datetime
) -> bool:
    # Secrets go too: a dead password-reset code is useless and must not linger.
    return await _mark(
        session,
        message,
        status=OutboxStatus.dead,
        processed_at=now,
        last_error=error[:LAST_ERROR_MAX],
        payload=scrubbed(message.payload),
    )


async def recipient(session: AsyncSession, customer_id: int) -> Recipient | None:
    row = (
        await session.execute(
            select(
                Customer.id,
                Customer.email,
                Customer.phone,
                Customer.locale,
                Customer.notification_preferences,
            ).where(Customer.id == customer_id)
        )
    ).first()
    if row is None:
        return None
    return Recipient(
        customer_id=row.id,
        email=row.email,
        phone=row.phone,
        locale=row.locale,
        preferences=dict(row.notification_preferences or {}),
    )


async def webchat_conversation(
    session: AsyncSession, customer_id: int, since: datetime
) -> int | None:
    """The customer's most recent web chat conversation, if it spoke for them since `since`
    (a conversation cut back to anonymous, by logout or expiry, no longer does)."""
    found = await session.scalar(
        select(Conversation.id)
        .where(
            Conversation.channel == Channel.webchat,
            Conversation.customer_id == customer_id,
            Conversation.updated_at >= since,
        )
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(1)
    )
    return None if found is None else int(found)


def notice_external_id(outbox_id: int) -> str:
    # ":" never appears in a widget's client message id, so no visitor's message collides
    return f"notify:{outbox_id}"


async def append_notice(
    session: AsyncSession, conversation_id: int, outbox_id: int, kind: str, text: str
) -> int | None:
    """The notification as the bot's message in the conversation's transcript, once per outbox
    row (a retried delivery finds it there); the new row's id, None when it was there."""
    stmt = (
        dialect_insert(session)(ConversationMessage)
        .values(
            conversation_id=conversation_id,
            direction=MessageDirection.outbound,
            sender=MessageSender.bot,
            external_id=notice_external_id(outbox_id),
            text=text,
            payload={"item": to_dict(Text(text=text)), "notification": kind},
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(
            index_elements=[ConversationMessage.conversation_id, ConversationMessage.external_id]
        )
        .returning(ConversationMessage.id)
    )
    found = (await session.execute(stmt)).scalar_one_or_none()
    return None if found is None else int(found)
