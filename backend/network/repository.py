from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import dialect_insert
from backend.models import (
    AuditEntry,
    Conversation,
    Customer,
    Outage,
    OutageStatus,
    OutageSubscription,
    OutboxMessage,
)

# Rows per INSERT of the bulk writes below: a big area has tens of thousands of customers, and
# a statement's bind parameters are limited (32767 in asyncpg).
CHUNK = 1000
# The key of the PostgreSQL advisory lock that serialises every change of outages.
OUTAGES_LOCK = 0x6F75_7461_6765  # "outage"


async def open_outage_for(
    session: AsyncSession, area: str | None, node: str | None
) -> Outage | None:
    """The most recent open outage on the customer's node or in their area."""
    conditions = []
    if node:
        conditions.append(Outage.node == node)
    if area:
        conditions.append(Outage.area == area)
    if not conditions:
        return None
    return await session.scalar(
        select(Outage)
        .where(Outage.status == OutageStatus.open, or_(*conditions))
        .order_by(Outage.started_at.desc())
        .limit(1)
    )


async def open_outages(session: AsyncSession, limit: int) -> list[Outage]:
    """The open outages, the most recent first (what an anonymous visitor may be told)."""
    rows = await session.scalars(
        select(Outage)
        .where(Outage.status == OutageStatus.open)
        .order_by(Outage.started_at.desc())
        .limit(limit)
    )
    return list(rows)


async def subscribe(
    session: AsyncSession,
    outage_id: int,
    customer_id: int,
    conversation_id: int | None,
    now: datetime,
) -> None:
    insert = dialect_insert(session)
    await session.execute(
        insert(OutageSubscription)
        .values(
            outage_id=outage_id,
            customer_id=customer_id,
            conversation_id=conversation_id,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["outage_id", "customer_id"])
    )


async def subscribers(session: AsyncSession, outage_id: int) -> list[OutageSubscription]:
    return list(
        await session.scalars(
            select(OutageSubscription).where(OutageSubscription.outage_id == outage_id)
        )
    )


async def chat_locales(session: AsyncSession, outage_id: int) -> dict[int, str]:
    """customer -> the language of the conversation in which they asked to be told of the
    fix (the end notice speaks it)."""
    rows = await session.execute(
        select(OutageSubscription.customer_id, Conversation.locale)
        .join(Conversation, Conversation.id == OutageSubscription.conversation_id)
        .where(OutageSubscription.outage_id == outage_id, Conversation.locale.is_not(None))
    )
    return {int(customer_id): str(locale) for customer_id, locale in rows}


async def lock_outages(session: AsyncSession) -> None:
    """Serialise the transactions that open, reopen or resolve outages, across processes, until
    this one ends: "is there an open incident on this node?" and "who was already told?" stay
    true until the commit. One lock for all places, not one per node: a customer on a node in
    an area is affected by incidents of both, and they are rare enough not to queue. SQLite
    has no such lock; the service serialises its writers in the process instead."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": OUTAGES_LOCK})


def _at_place(kind: str, code: str) -> Any:
    # An area alert's incident is the area-wide one: a node's incident in that area is another.
    if kind == "node":
        return Outage.node == code
    return (Outage.area == code) & Outage.node.is_(None)


async def open_outage_at(session: AsyncSession, kind: str, code: str) -> Outage | None:
    return await session.scalar(
        select(Outage)
        .where(_at_place(kind, code), Outage.status == OutageStatus.open)
        .order_by(Outage.started_at.desc(), Outage.id.desc())
        .limit(1)
    )


async def latest_outage_at(session: AsyncSession, kind: str, code: str) -> Outage | None:
    return await session.scalar(
        select(Outage)
        .where(_at_place(kind, code))
        .order_by(Outage.started_at.desc(), Outage.id.desc())
        .limit(1)
    )


async def list_outages(
    session: AsyncSession, status: OutageStatus | None, limit: int, before_id: int | None
) -> list[Outage]:
    query = select(Outage).order_by(Outage.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Outage.status == status)
    if before_id is not None:
        query = query.where(Outage.id < before_id)
    return list(await session.scalars(query))


async def affected_customers(
    session: AsyncSession, area: str | None, node: str | None
) -> list[int]:
    """The customers on the node or in the area (either, when the outage names both)."""
    conditions = []
    if node:
        conditions.append(Customer.network_node == node)
    if area:
        conditions.append(Customer.network_area == area)
    if not conditions:
        return []
    return list(
        await session.scalars(select(Customer.id).where(or_(*conditions)).order_by(Customer.id))
    )


async def told_elsewhere(
    session: AsyncSession, outage_id: int, customer_ids: Sequence[int]
) -> set[int]:
    """Those of the customers who will hear the end of another open outage."""
    found: set[int] = set()
    for start in range(0, len(customer_ids), CHUNK):
        chunk = customer_ids[start : start + CHUNK]
        rows = await session.scalars(
            select(OutageSubscription.customer_id)
            .join(Outage, Outage.id == OutageSubscription.outage_id)
            .where(
                Outage.status == OutageStatus.open,
                Outage.id != outage_id,
                OutageSubscription.customer_id.in_(chunk),
            )
        )
        found.update(rows)
    return found


async def subscribe_many(
    session: AsyncSession, outage_id: int, customer_ids: Sequence[int], now: datetime
) -> None:
    insert = dialect_insert(session)
    for start in range(0, len(customer_ids), CHUNK):
        rows = [
            {"outage_id": outage_id, "customer_id": customer_id, "created_at": now}
            for customer_id in customer_ids[start : start + CHUNK]
        ]
        await session.execute(
            insert(OutageSubscription)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["outage_id", "customer_id"])
        )


async def alert_history(session: AsyncSession, outage_id: int) -> list[dict[str, Any]]:
    """The details of the alert changes recorded on the outage (the audit log is where they
    are kept: append-only, written in the same transaction as the change), oldest first."""
    rows = await session.scalars(
        select(AuditEntry.details)
        .where(
            AuditEntry.object_type == "outage",
            AuditEntry.object_id == str(outage_id),
            AuditEntry.action == "outage.alert",
        )
        .order_by(AuditEntry.id)
    )
    return list(rows)


async def insert_outbox_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Outbox rows in bulk, each skipped when its dedup key is already there."""
    insert = dialect_insert(session)
    for start in range(0, len(rows), CHUNK):
        values = list(rows[start : start + CHUNK])
        if values:
            await session.execute(
                insert(OutboxMessage)
                .values(values)
                .on_conflict_do_nothing(index_elements=["dedup_key"])
            )
