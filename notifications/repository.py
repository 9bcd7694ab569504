"""Every query of outbox delivery: claim a batch under a lease, then mark each row done,
retried or dead; and the web chat channel's two (the customer's conversation, the notice in it).

A claim sets status=processing, a lease (locked_until) and attempts+1. The marks are fenced on
(status, attempts): a worker whose lease ran out and whose row was claimed again by another
worker cannot overwrite the newer claim's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import utcnow
from backend.db import dialect_insert
from backend.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationMessage,
    Customer,
    MessageDirection,
    MessageSender,
    NotificationDelivery,
    OutboxMessage,
    OutboxStatus,
)
from dialogs.types import Text, to_dict
from notifications.routing import Recipient

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
    candidates = (
        select(outbox.c.id).where(_due(now)).order_by(outbox.c.priority, outbox.c.id).limit(limit)
    )
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


async def recipients(
    session: AsyncSession, customer_ids: list[int], webchat_since: datetime | None
) -> dict[int, Recipient]:
    """Everything routing needs about these customers, in three queries for a whole batch:
    their contacts and preferences, their reachable Telegram chats and push devices, and the
    recent web chat conversation (when `webchat_since` is given)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    found = (
        await session.execute(
            select(
                Customer.id,
                Customer.email,
                Customer.phone,
                Customer.locale,
                Customer.notification_preferences,
            ).where(Customer.id.in_(ids))
        )
    ).all()
    telegram: dict[int, list[str]] = {}
    devices: dict[int, list[str]] = {}
    identities = await session.execute(
        select(ChannelIdentity.customer_id, ChannelIdentity.channel, ChannelIdentity.external_id)
        .where(
            ChannelIdentity.customer_id.in_(ids),
            ChannelIdentity.is_reachable.is_(True),
            ChannelIdentity.channel.in_([Channel.telegram, Channel.fcm]),
        )
        .order_by(ChannelIdentity.id)
    )
    for customer_id, channel, external_id in identities:
        into = telegram if channel == Channel.telegram else devices
        into.setdefault(customer_id, []).append(external_id)
    chats: dict[int, int] = {}
    if webchat_since is not None:
        latest = (
            select(
                Conversation.customer_id,
                Conversation.id,
                func.row_number()
                .over(
                    partition_by=Conversation.customer_id,
                    order_by=(Conversation.updated_at.desc(), Conversation.id.desc()),
                )
                .label("n"),
            )
            .where(
                Conversation.channel == Channel.webchat,
                Conversation.customer_id.in_(ids),
                Conversation.updated_at >= webchat_since,
            )
            .subquery()
        )
        for customer_id, conversation_id in await session.execute(
            select(latest.c.customer_id, latest.c.id).where(latest.c.n == 1)
        ):
            chats[int(customer_id)] = int(conversation_id)
    return {
        row.id: Recipient(
            customer_id=row.id,
            email=row.email,
            phone=row.phone,
            locale=row.locale,
            preferences=dict(row.notification_preferences or {}),
            telegram=tuple(telegram.get(row.id, ())),
            devices=tuple(devices.get(row.id, ())),
            webchat=chats.get(row.id),
        )
        for row in found
    }


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


async def postpone(
    session: AsyncSession, message: ClaimedMessage, available_at: datetime, note: str
) -> bool:
    """Back to pending until `available_at` without spending an attempt: waiting out quiet
    hours or a provider's flood control is not a failure of the row. Fenced like the marks."""
    return await _mark(
        session,
        message,
        status=OutboxStatus.pending,
        available_at=available_at,
        attempts=outbox.c.attempts - 1,
        last_error=note[:LAST_ERROR_MAX],
    )


# --- per-recipient delivery rows ----------------------------------------------------------

deliveries = cast(Table, NotificationDelivery.__table__)

# Final states: an address that got the message, or told us it cannot be reached. A row
# claimed again (a retry, a worker that died) sends neither of them again.
SENT = "sent"
FAILED = "failed"
FINAL = frozenset({SENT, FAILED})


def delivery_key(outbox_id: int, channel: str, address: str) -> str:
    return f"{outbox_id}:{channel}:{address}"[:600]


@dataclass(frozen=True)
class Target:
    outbox_id: int
    customer_id: int | None
    kind: str
    channel: str
    address: str

    @property
    def key(self) -> str:
        return delivery_key(self.outbox_id, self.channel, self.address)


async def begin_deliveries(
    session: AsyncSession, targets: list[Target], now: datetime
) -> dict[str, str]:
    """Record that these sends are starting (status "sending", attempts + 1) and return the
    final status of those already settled by an earlier claim ("sent" or "failed"), which
    are not sent again."""
    if not targets:
        return {}
    values = [
        {
            "key": t.key,
            "outbox_id": t.outbox_id,
            "customer_id": t.customer_id,
            "kind": t.kind,
            "channel": t.channel,
            "address": t.address[:512],
            "status": "sending",
            "attempts": 0,
            "created_at": now,
        }
        for t in targets
    ]
    insert = dialect_insert(session)(NotificationDelivery)
    await session.execute(insert.on_conflict_do_nothing(index_elements=["key"]), values)
    keys = [t.key for t in targets]
    settled = {
        key: status
        for key, status in await session.execute(
            select(deliveries.c.key, deliveries.c.status).where(
                deliveries.c.key.in_(keys), deliveries.c.status.in_(sorted(FINAL))
            )
        )
    }
    await session.execute(
        update(deliveries)
        .where(deliveries.c.key.in_([k for k in keys if k not in settled]))
        .values(status="sending", attempts=deliveries.c.attempts + 1)
    )
    return settled


async def finish_deliveries(
    session: AsyncSession, outcomes: list[tuple[str, str, str | None]], now: datetime
) -> None:
    """(key, status, error) for each send that ended."""
    if not outcomes:
        return
    await session.execute(
        update(deliveries)
        .where(deliveries.c.key == bindparam("k"))
        .values(status=bindparam("s"), error=bindparam("e"), sent_at=bindparam("t")),
        [
            {
                "k": key,
                "s": status,
                "e": None if error is None else error[:LAST_ERROR_MAX],
                "t": now if status == SENT else None,
            }
            for key, status, error in outcomes
        ],
    )
