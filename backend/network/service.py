"""Known network outages: what the "no internet" flow tells a customer, and who asked to hear
when it is fixed. Opening and closing outages (Alertmanager, the console) comes with the
notifications issue; this module is the read side and the fix subscriptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import Actor
from backend.clock import utcnow
from backend.errors import NotFound
from backend.models import Customer, Outage, OutageStatus
from backend.network import repository
from backend.network.errors import OutageNotOpen


@dataclass(frozen=True)
class OutageInfo:
    id: int
    title: str
    started_at: datetime
    expected_fix_at: datetime | None


async def outage_for_customer(session: AsyncSession, customer: Customer) -> OutageInfo | None:
    outage = await repository.open_outage_for(session, customer.network_area, customer.network_node)
    if outage is None:
        return None
    return OutageInfo(outage.id, outage.title, outage.started_at, outage.expected_fix_at)


async def open_outages(session: AsyncSession, limit: int = 5) -> list[OutageInfo]:
    """The open outages anywhere in the network, for a visitor who has not said who they are."""
    rows = await repository.open_outages(session, limit)
    return [OutageInfo(o.id, o.title, o.started_at, o.expected_fix_at) for o in rows]


async def subscribe_to_fix(
    session: AsyncSession, outage_id: int, customer_id: int, conversation_id: int | None = None
) -> None:
    await repository.subscribe(session, outage_id, customer_id, conversation_id, utcnow())


async def open_outage(
    session: AsyncSession,
    *,
    title: str,
    area: str | None,
    node: str | None,
    expected_fix_at: datetime | None = None,
    actor: Actor | None = None,
) -> Outage:
    outage = Outage(
        title=title,
        area=area,
        node=node,
        status=OutageStatus.open,
        started_at=utcnow(),
        expected_fix_at=expected_fix_at,
    )
    session.add(outage)
    await session.flush()
    await audit.record(session, "outage.open", actor, "outage", outage.id, area=area, node=node)
    return outage


async def resolve_outage(session: AsyncSession, outage_id: int, actor: Actor | None = None) -> int:
    """Close the outage and queue a notice for each subscriber; returns how many."""
    outage = await session.get(Outage, outage_id, with_for_update=True)
    if outage is None:
        raise NotFound("outage not found")
    if outage.status is not OutageStatus.open:
        raise OutageNotOpen()
    outage.status = OutageStatus.resolved
    outage.resolved_at = utcnow()
    subs = await repository.subscribers(session, outage.id)
    for sub in subs:
        await outbox.enqueue(
            session,
            "outage.resolved",
            {"customer_id": sub.customer_id, "outage_id": outage.id, "title": outage.title},
            f"outage-resolved:{outage.id}:{sub.customer_id}",
        )
    await audit.record(session, "outage.resolve", actor, "outage", outage.id, notified=len(subs))
    return len(subs)
