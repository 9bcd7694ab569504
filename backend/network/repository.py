from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import dialect_insert
from backend.models import Outage, OutageStatus, OutageSubscription


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
