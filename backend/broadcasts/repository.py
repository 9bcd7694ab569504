"""Every query of broadcasts: who a segment reaches, the fan-out into the outbox (`INSERT ...
SELECT`, so a hundred thousand recipients never pass through Python), the progress counts and
the cancellation of the rows not yet sent. `texts_of` is what the notification worker reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import dialect_insert
from backend.models import (
    Account,
    AuditEntry,
    Broadcast,
    BroadcastStatus,
    Customer,
    NotificationDelivery,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionStatus,
    Tariff,
)
from backend.models.base import UTCDateTime

KIND: Final = "broadcast.message"
# Below a customer's own notices (0): the worker takes lower numbers first.
PRIORITY: Final = 10
# `last_error` of the rows a cancellation stopped (the worker never claims a done row).
CANCELLED: Final = "broadcast cancelled"
# The action customers.anonymise records: an erased customer is nobody's recipient.
_ANONYMISED: Final = "customer.anonymise"


def dedup_prefix(broadcast_id: int) -> str:
    """The start of the dedup key of every row of the broadcast: `broadcast:{id}:{customer}`."""
    return f"broadcast:{int(broadcast_id)}:"


# --- who -------------------------------------------------------------------------------------


def _current(today: date) -> ColumnElement[bool]:
    return or_(Subscription.ended_on.is_(None), Subscription.ended_on >= today)


def _in_segment(segment: Mapping[str, Any], today: date) -> ColumnElement[bool]:
    """The condition on `customers` of a stored segment (schemas.Segment, the tariff resolved
    to its id)."""
    kind = segment["type"]
    if kind == "everyone":
        return true()
    if kind == "tariff":
        return exists().where(
            Subscription.customer_id == Customer.id,
            Subscription.tariff_id == int(segment["tariff_id"]),
            _current(today),
        )
    if kind == "area":
        return Customer.network_area == str(segment["area"])
    if kind == "node":
        return Customer.network_node == str(segment["node"])
    if kind == "debtors":
        return exists().where(Account.customer_id == Customer.id, Account.balance < 0)
    if kind == "blocked":
        return exists().where(
            Subscription.customer_id == Customer.id,
            Subscription.status == SubscriptionStatus.blocked,
            _current(today),
        )
    if kind == "contracts":
        return Customer.contract_number.in_([str(c) for c in segment["contracts"]])
    raise ValueError(f"unknown segment type {kind!r}")


def _recipients(
    segment: Mapping[str, Any], marketing: bool, today: date
) -> list[ColumnElement[bool]]:
    conditions = [
        _in_segment(segment, today),
        ~exists().where(
            AuditEntry.object_type == "customer",
            AuditEntry.object_id == cast(Customer.id, String),
            AuditEntry.action == _ANONYMISED,
        ),
    ]
    if marketing:
        # the customer's own switch (PUT /customers/me/notification-preferences); a JSON
        # boolean read the same way on PostgreSQL (JSONB) and SQLite (JSON text)
        conditions.append(Customer.notification_preferences["marketing"].as_boolean().is_(True))
    return conditions


async def count_recipients(
    session: AsyncSession, segment: Mapping[str, Any], marketing: bool, today: date
) -> int:
    query = (
        select(func.count()).select_from(Customer).where(*_recipients(segment, marketing, today))
    )
    return int(await session.scalar(query) or 0)


async def unknown_contracts(session: AsyncSession, contracts: Sequence[str]) -> list[str]:
    """The contract numbers no customer has, in the order given."""
    known = set(
        await session.scalars(
            select(Customer.contract_number).where(Customer.contract_number.in_(contracts))
        )
    )
    return [c for c in contracts if c not in known]


async def tariff_id_by_name(session: AsyncSession, name: str) -> int | None:
    return await session.scalar(select(Tariff.id).where(Tariff.name == name))


async def tariff_exists(session: AsyncSession, tariff_id: int) -> bool:
    return await session.scalar(select(Tariff.id).where(Tariff.id == tariff_id)) is not None


# --- the fan-out -----------------------------------------------------------------------------


async def due_for_fan_out(session: AsyncSession, now: datetime) -> Broadcast | None:
    """The earliest due broadcast whose fan-out has not ended, locked; one another process
    is fanning out is skipped (PostgreSQL; SQLite runs one process and ignores the lock)."""
    return await session.scalar(
        select(Broadcast)
        .where(
            Broadcast.status.in_([BroadcastStatus.scheduled, BroadcastStatus.sending]),
            Broadcast.scheduled_at <= now,
            Broadcast.queued_at.is_(None),
        )
        .order_by(Broadcast.scheduled_at, Broadcast.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


@dataclass(frozen=True, slots=True)
class Chunk:
    upto: int  # the last customer id of the chunk
    size: int


async def next_chunk(
    session: AsyncSession, broadcast: Broadcast, today: date, size: int
) -> Chunk | None:
    """The next `size` recipients after `last_customer_id`, by customer id; None when no
    recipient is left."""
    ids = (
        select(Customer.id)
        .where(*_recipients(broadcast.segment, broadcast.marketing, today))
        .where(Customer.id > (broadcast.last_customer_id or 0))
        .order_by(Customer.id)
        .limit(size)
        .subquery()
    )
    upto, found = (await session.execute(select(func.max(ids.c.id), func.count()))).one()
    return Chunk(int(upto), int(found)) if found else None


def _available_at(
    dialect: str, start: datetime, offset: int, rate: int | None
) -> ColumnElement[Any]:
    """Row i of the broadcast (counted over every chunk) becomes available at start + i/rate
    seconds, so the worker interleaves other notices with a huge broadcast."""
    at = literal(start, UTCDateTime)
    if rate is None:
        return at
    index = func.row_number().over(order_by=Customer.id) - 1 + offset
    if dialect == "postgresql":
        return at + func.make_interval(0, 0, 0, 0, 0, 0, cast(index, Integer) / float(rate))
    # SQLite keeps datetimes as text, "YYYY-MM-DD HH:MM:SS.ffffff" (UTCDateTime, naive UTC)
    seconds = cast(index, Integer) * 1.0 / rate
    return func.strftime("%Y-%m-%d %H:%M:%f", at, "+" + cast(seconds, String) + " seconds")


def _payload(dialect: str, broadcast: Broadcast) -> ColumnElement[Any]:
    # Constants as SQL literals: jsonb_build_object takes "any" arguments, whose bind
    # parameters PostgreSQL cannot type. Both are an int and a bool of ours, never input.
    broadcast_id: ColumnElement[Any] = literal_column(str(int(broadcast.id)))
    marketing: ColumnElement[Any]
    if dialect == "postgresql":
        marketing = literal_column("true" if broadcast.marketing else "false")
        build = func.jsonb_build_object
    else:
        marketing = func.json("true" if broadcast.marketing else "false")
        build = func.json_object
    return build(
        literal_column("'customer_id'"),
        Customer.id,
        literal_column("'broadcast_id'"),
        broadcast_id,
        literal_column("'marketing'"),
        marketing,
    )


async def queue_chunk(
    session: AsyncSession, broadcast: Broadcast, chunk: Chunk, today: date, now: datetime
) -> list[int]:
    """Write the outbox rows of the recipients after `last_customer_id` up to `chunk.upto`
    in one `INSERT ... SELECT`; a recipient who already has the row (its dedup key) gets no
    second. Returns the ids of the rows written."""
    dialect = session.get_bind().dialect.name
    start = broadcast.started_at or now
    source = select(
        literal(KIND, String),
        _payload(dialect, broadcast),
        literal(dedup_prefix(broadcast.id), String) + cast(Customer.id, String),
        literal(OutboxStatus.pending.value, String),
        literal(0, Integer),
        _available_at(dialect, start, broadcast.recipients, broadcast.rate_per_second),
        literal(PRIORITY, Integer),
        literal(now, UTCDateTime),
    ).where(
        *_recipients(broadcast.segment, broadcast.marketing, today),
        Customer.id > (broadcast.last_customer_id or 0),
        Customer.id <= chunk.upto,
    )
    columns = [
        "kind",
        "payload",
        "dedup_key",
        "status",
        "attempts",
        "available_at",
        "priority",
        "created_at",
    ]
    insert = dialect_insert(dialect)
    statement = (
        insert(OutboxMessage)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(OutboxMessage.id)
    )
    return list(await session.scalars(statement))


# --- progress and cancellation -------------------------------------------------------------


def _rows_of(broadcast: Broadcast) -> list[ColumnElement[bool]]:
    """The broadcast's outbox rows: within the id range the fan-out recorded (other rows
    written meanwhile fall in it too, hence the key)."""
    return [
        OutboxMessage.id.between(broadcast.first_outbox_id or 0, broadcast.last_outbox_id or 0),
        OutboxMessage.kind == KIND,
        OutboxMessage.dedup_key.startswith(dedup_prefix(broadcast.id), autoescape=True),
    ]


async def progress(session: AsyncSession, broadcast: Broadcast) -> dict[str, int]:
    """The counts of the broadcast's rows by outcome, in one query over its id range."""
    names = ("queued", "pending", "sent", "failed", "skipped", "cancelled")
    if broadcast.first_outbox_id is None:
        return dict.fromkeys(names, 0)
    waiting = OutboxMessage.status.in_([OutboxStatus.pending, OutboxStatus.processing])
    stopped = and_(OutboxMessage.status == OutboxStatus.done, OutboxMessage.last_error == CANCELLED)
    delivered = exists().where(
        NotificationDelivery.outbox_id == OutboxMessage.id,
        NotificationDelivery.status == "sent",
    )
    outcome = case(
        (waiting, "pending"),
        (stopped, "cancelled"),
        (delivered, "sent"),
        (OutboxMessage.status == OutboxStatus.dead, "failed"),
        else_="skipped",
    )

    def n(name: str) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((outcome == name, 1), else_=0)), 0)

    row = (
        await session.execute(
            select(func.count(), *(n(name) for name in names[1:])).where(*_rows_of(broadcast))
        )
    ).one()
    return {name: int(value) for name, value in zip(names, row, strict=True)}


async def stop_pending(session: AsyncSession, broadcast: Broadcast, now: datetime) -> int:
    """Mark the broadcast's rows not yet claimed by the worker done, unsent. Rows the worker
    holds (processing) go on: their send may already be under way."""
    if broadcast.first_outbox_id is None:
        return 0
    result = await session.execute(
        update(OutboxMessage)
        .where(*_rows_of(broadcast), OutboxMessage.status == OutboxStatus.pending)
        .values(status=OutboxStatus.done, last_error=CANCELLED, processed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def has_unprocessed(session: AsyncSession, broadcast: Broadcast) -> bool:
    if broadcast.first_outbox_id is None:
        return False
    waiting = OutboxMessage.status.in_([OutboxStatus.pending, OutboxStatus.processing])
    found = await session.scalar(
        select(OutboxMessage.id).where(*_rows_of(broadcast), waiting).limit(1)
    )
    return found is not None


async def sending_and_queued(session: AsyncSession) -> list[Broadcast]:
    """The broadcasts whose rows are all written and may all be processed, locked; those
    another process holds are skipped."""
    rows = await session.scalars(
        select(Broadcast)
        .where(Broadcast.status == BroadcastStatus.sending, Broadcast.queued_at.is_not(None))
        .order_by(Broadcast.id)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


# --- the rows themselves ---------------------------------------------------------------------


async def lock(session: AsyncSession, broadcast_id: int) -> Broadcast | None:
    """The broadcast, locked until the commit (a fan-out chunk in progress is waited for)."""
    return await session.scalar(
        select(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def list_broadcasts(
    session: AsyncSession, status: BroadcastStatus | None, limit: int, before_id: int | None
) -> list[Broadcast]:
    query = select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Broadcast.status == status)
    if before_id is not None:
        query = query.where(Broadcast.id < before_id)
    return list(await session.scalars(query))


async def texts_of(session: AsyncSession, broadcast_id: int) -> dict[str, str] | None:
    """The texts of a broadcast by language ({"ru": ..., "en": ...}), None when there is no
    such broadcast. The notification worker renders a `broadcast.message` row with it (the
    payload carries only the ids, not a copy of the text per recipient); a customer whose
    language has no text gets the default language's."""
    texts = await session.scalar(select(Broadcast.texts).where(Broadcast.id == broadcast_id))
    return None if texts is None else {str(k): str(v) for k, v in texts.items()}
