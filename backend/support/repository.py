from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import (
    Role,
    Ticket,
    TicketCategory,
    TicketMessage,
    TicketPriority,
    TicketStatus,
    User,
)

# Priorities are stored as text, so the queue order is spelled out rather than alphabetical.
_PRIORITY_RANK = case(
    {
        TicketPriority.critical.value: 0,
        TicketPriority.high.value: 1,
        TicketPriority.medium.value: 2,
        TicketPriority.low.value: 3,
    },
    value=Ticket.priority,
    else_=4,
)


async def ticket_by_id(
    session: AsyncSession, ticket_id: int, *, lock: bool = False
) -> Ticket | None:
    query = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def messages_of(
    session: AsyncSession, ticket_id: int, *, include_internal: bool
) -> list[TicketMessage]:
    query = (
        select(TicketMessage)
        .where(TicketMessage.ticket_id == ticket_id)
        .order_by(TicketMessage.created_at, TicketMessage.id)
    )
    if not include_internal:
        query = query.where(TicketMessage.internal.is_(False))
    return list((await session.scalars(query)).all())


async def _page(
    session: AsyncSession, query: Select[Ticket], limit: int, offset: int
) -> tuple[list[Ticket], int]:
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = await session.scalars(query.limit(limit).offset(offset))
    return list(rows.all()), int(total or 0)


async def customer_tickets(
    session: AsyncSession,
    customer_id: int,
    *,
    statuses: Sequence[TicketStatus],
    limit: int,
    offset: int,
) -> tuple[list[Ticket], int]:
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )
    if statuses:
        query = query.where(Ticket.status.in_(statuses))
    return await _page(session, query, limit, offset)


async def queue(
    session: AsyncSession,
    *,
    statuses: Sequence[TicketStatus],
    priorities: Sequence[TicketPriority],
    categories: Sequence[TicketCategory],
    assignee_id: int | None,
    customer_id: int | None,
    limit: int,
    offset: int,
    unassigned: bool = False,
    text: str | None = None,
) -> tuple[list[Ticket], int]:
    query = select(Ticket).order_by(_PRIORITY_RANK, Ticket.created_at, Ticket.id)
    if unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found: list[ColumnElement[bool]] = [
            Ticket.subject.ilike(pattern, escape="\\"),
            Ticket.description.ilike(pattern, escape="\\"),
        ]
        number = text.removeprefix("#")
        if number.isascii() and number.isdigit() and len(number) <= 18:
            found.append(Ticket.id == int(number))
        query = query.where(or_(*found))
    if statuses:
        query = query.where(Ticket.status.in_(statuses))
    if priorities:
        query = query.where(Ticket.priority.in_(priorities))
    if categories:
        query = query.where(Ticket.category.in_(categories))
    if assignee_id is not None:
        query = query.where(Ticket.assignee_id == assignee_id)
    if customer_id is not None:
        query = query.where(Ticket.customer_id == customer_id)
    return await _page(session, query, limit, offset)


async def active_staff_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.scalar(
        select(User).where(
            User.id == user_id,
            User.role.in_((Role.agent, Role.admin)),
            User.is_active.is_(True),
        )
    )
