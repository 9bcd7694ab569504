from __future__ import annotations

from sqlalchemy import select

from backend.audit.service import SYSTEM, Actor
from backend.models import OutboxMessage, Role, TicketCategory, TicketPriority, TicketStatus
from backend.support import service
from backend.support.schemas import TicketUpdateIn
from tests.factories import make_user


async def test_bot_ticket_without_customer_notifies_nobody(session):
    agent = await make_user(session, role=Role.agent)
    actor = Actor(agent.id, Role.agent)
    ticket = await service.create_ticket(
        session,
        customer_id=None,
        subject="Подключение",
        description="Заявка на подключение",
        category=TicketCategory.connection,
        priority=TicketPriority.high,
        actor=SYSTEM,
        details={"address": "Ленина 1", "phone": "+79990000000"},
    )
    assert ticket.details == {"address": "Ленина 1", "phone": "+79990000000"}
    assert ticket.status is TicketStatus.open

    await service.add_staff_message(session, ticket.id, "Перезвоним", False, actor)
    await service.update_ticket(session, ticket.id, TicketUpdateIn(status="resolved"), actor)
    await session.flush()

    assert (await session.scalars(select(OutboxMessage))).all() == []
    assert ticket.status.value == "resolved"
    assert ticket.resolved_at is not None
