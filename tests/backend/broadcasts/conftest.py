"""Broadcast bodies, the customers of every segment, and reading back what the fan-out wrote."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import OutboxMessage, SubscriptionStatus
from tests.factories import make_customer, make_subscription, make_tariff

URL = "/api/v1/admin/broadcasts"


def body(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "Плановые работы",
        "texts": {"ru": "Ночью с 2:00 до 4:00 плановые работы.", "en": "Maintenance 2-4 am."},
        "segment": {"type": "everyone"},
    }
    values.update(overrides)
    return values


@dataclass(frozen=True)
class Town:
    """Customers arranged so that each segment type selects a different set (ids)."""

    basic: int  # tariff "Basic", area a1, node n1, opted in to marketing
    fast: int  # tariff "Fast", area a1, node n2, in debt
    blocked: int  # tariff "Basic" blocked, area a2, opted in, in debt
    former: int  # tariff "Basic" ended last month, no area
    erased: int  # anonymised (its personal data erased)
    basic_tariff: int
    fast_tariff: int

    @property
    def everyone(self) -> list[int]:
        return [self.basic, self.fast, self.blocked, self.former]


async def town(session: AsyncSession) -> Town:
    basic_tariff = await make_tariff(session, name="Basic")
    fast_tariff = await make_tariff(session, name="Fast")
    _, basic = await make_customer(
        session, with_user=False, network_area="a1", network_node="n1", contract_number="C-1"
    )
    basic.notification_preferences = {**basic.notification_preferences, "marketing": True}
    await make_subscription(session, basic, basic_tariff)
    _, fast = await make_customer(
        session,
        with_user=False,
        network_area="a1",
        network_node="n2",
        balance=-15000,
        contract_number="C-2",
    )
    await make_subscription(session, fast, fast_tariff)
    _, blocked = await make_customer(
        session, with_user=False, network_area="a2", balance=-100, contract_number="C-3"
    )
    blocked.notification_preferences = {**blocked.notification_preferences, "marketing": True}
    await make_subscription(session, blocked, basic_tariff, status=SubscriptionStatus.blocked)
    _, former = await make_customer(session, with_user=False, contract_number="C-4")
    await make_subscription(
        session,
        former,
        basic_tariff,
        status=SubscriptionStatus.blocked,
        ended_on=date.today() - timedelta(days=30),
    )
    _, erased = await make_customer(session, with_user=False, contract_number="C-5")
    await session.commit()
    return Town(
        basic.id, fast.id, blocked.id, former.id, erased.id, basic_tariff.id, fast_tariff.id
    )


async def rows_of(session: AsyncSession, broadcast_id: int) -> list[OutboxMessage]:
    session.expire_all()
    rows = await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.dedup_key.startswith(f"broadcast:{broadcast_id}:"))
        .order_by(OutboxMessage.id)
    )
    return list(rows)


async def recipients_of(session: AsyncSession, broadcast_id: int) -> list[int]:
    return [r.payload["customer_id"] for r in await rows_of(session, broadcast_id)]
