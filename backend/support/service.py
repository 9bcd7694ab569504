"""Support tickets: customers open them and write; staff triage, answer and move them along.

Every change is audited in the same transaction; what the customer should hear about (a staff
reply that is not an internal note, with its text; a status change made by staff) becomes a
"ticket.updated" outbox row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import Actor
from backend.clock import utcnow
from backend.models import (
    Role,
    Ticket,
    TicketCategory,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from backend.support import repository
from backend.support.errors import InvalidAssignee, InvalidTransition, TicketClosed, TicketNotFound
from backend.support.schemas import CustomerTicketFilter, QueueFilter, TicketUpdateIn

NOTIFY_KIND = "ticket.updated"
# The answer travels in the notice (an SMS or a push cannot be "read in the account"); a long
# one is cut, and the customer reads the rest in the ticket. Telegram's limit is 4096.
ANSWER_EXCERPT_CHARS = 1000

TRANSITIONS: Mapping[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.open: frozenset(
        {TicketStatus.in_progress, TicketStatus.resolved, TicketStatus.closed}
    ),
    TicketStatus.in_progress: frozenset(
        {TicketStatus.open, TicketStatus.resolved, TicketStatus.closed}
    ),
    TicketStatus.resolved: frozenset({TicketStatus.closed, TicketStatus.open}),
    TicketStatus.closed: frozenset(),
}

_FINISHED = (TicketStatus.resolved, TicketStatus.closed)


async def create_ticket(
    session: AsyncSession,
    *,
    customer_id: int | None,
    subject: str,
    description: str,
    actor: Actor | None,
    category: TicketCategory = TicketCategory.other,
    priority: TicketPriority = TicketPriority.medium,
    details: dict[str, Any] | None = None,
) -> Ticket:
    """Open a ticket. Callers outside the API (the bot) pass `details` with diagnostics."""
    now = utcnow()
    ticket = Ticket(
        customer_id=customer_id,
        subject=subject,
        description=description,
        category=category,
        priority=priority,
        status=TicketStatus.open,
        details=details or {},
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    await session.flush()
    await audit.record(
        session,
        "ticket.create",
        actor,
        "ticket",
        ticket.id,
        customer_id=customer_id,
        category=category.value,
        priority=priority.value,
    )
    return ticket


async def customer_tickets(
    session: AsyncSession, customer_id: int, filters: CustomerTicketFilter
) -> tuple[list[Ticket], int]:
    return await repository.customer_tickets(
        session,
        customer_id,
        statuses=filters.status,
        limit=filters.limit,
        offset=filters.offset,
    )


async def queue(session: AsyncSession, filters: QueueFilter) -> tuple[list[Ticket], int]:
    return await repository.queue(
        session,
        statuses=filters.status,
        priorities=filters.priority,
        categories=filters.category,
        assignee_id=filters.assignee_id,
        customer_id=filters.customer_id,
        limit=filters.limit,
        offset=filters.offset,
        unassigned=filters.unassigned,
        text=filters.q,
    )


async def _customer_ticket(
    session: AsyncSession, customer_id: int, ticket_id: int, *, lock: bool = False
) -> Ticket:
    ticket = await repository.ticket_by_id(session, ticket_id, lock=lock)
    # Someone else's ticket looks exactly like a missing one, so ids cannot be probed.
    if ticket is None or ticket.customer_id != customer_id:
        raise TicketNotFound()
    return ticket


async def _any_ticket(session: AsyncSession, ticket_id: int, *, lock: bool = False) -> Ticket:
    ticket = await repository.ticket_by_id(session, ticket_id, lock=lock)
    if ticket is None:
        raise TicketNotFound()
    return ticket


async def ticket_for_customer(
    session: AsyncSession, customer_id: int, ticket_id: int
) -> tuple[Ticket, list[TicketMessage]]:
    ticket = await _customer_ticket(session, customer_id, ticket_id)
    return ticket, await repository.messages_of(session, ticket.id, include_internal=False)


async def ticket_for_staff(
    session: AsyncSession, ticket_id: int
) -> tuple[Ticket, list[TicketMessage]]:
    ticket = await _any_ticket(session, ticket_id)
    return ticket, await repository.messages_of(session, ticket.id, include_internal=True)


async def _notify(
    session: AsyncSession, ticket: Ticket, event: str, dedup_key: str, **extra: Any
) -> None:
    # A ticket without a customer (a prospect's request from the bot) has nobody to notify.
    if ticket.customer_id is None:
        return
    payload = {
        "ticket_id": ticket.id,
        "customer_id": ticket.customer_id,
        "status": ticket.status.value,
        "event": event,
        **extra,
    }
    await outbox.enqueue(session, NOTIFY_KIND, payload, dedup_key)


def _set_status(ticket: Ticket, new: TicketStatus) -> None:
    if new not in TRANSITIONS[ticket.status]:
        raise InvalidTransition(f"a {ticket.status.value} ticket cannot become {new.value}")
    ticket.status = new
    if new in _FINISHED:
        ticket.resolved_at = ticket.resolved_at or utcnow()
    else:
        ticket.resolved_at = None


async def _add_message(
    session: AsyncSession, ticket: Ticket, actor: Actor, role: Role, body: str, internal: bool
) -> TicketMessage:
    if ticket.status is TicketStatus.closed:
        raise TicketClosed()
    message = TicketMessage(
        ticket_id=ticket.id,
        author_user_id=actor.user_id,
        author_role=role,
        body=body,
        internal=internal,
        created_at=utcnow(),
    )
    session.add(message)
    ticket.updated_at = message.created_at
    await session.flush()
    return message


async def add_customer_message(
    session: AsyncSession, customer_id: int, ticket_id: int, body: str, actor: Actor
) -> TicketMessage:
    """A customer writes on their own ticket; writing on a resolved ticket reopens it."""
    ticket = await _customer_ticket(session, customer_id, ticket_id, lock=True)
    message = await _add_message(session, ticket, actor, Role.customer, body, internal=False)
    reopened = ticket.status is TicketStatus.resolved
    if reopened:
        _set_status(ticket, TicketStatus.open)
        await audit.record(
            session,
            "ticket.update",
            actor,
            "ticket",
            ticket.id,
            changes={"status": [TicketStatus.resolved.value, TicketStatus.open.value]},
            reason="customer_message",
        )
    await audit.record(
        session,
        "ticket.message",
        actor,
        "ticket",
        ticket.id,
        message_id=message.id,
        internal=False,
        reopened=reopened,
    )
    return message


async def add_staff_message(
    session: AsyncSession, ticket_id: int, body: str, internal: bool, actor: Actor
) -> TicketMessage:
    """A staff reply (the customer is notified) or an internal note (nobody is)."""
    ticket = await _any_ticket(session, ticket_id, lock=True)
    message = await _add_message(
        session, ticket, actor, actor.role or Role.agent, body, internal=internal
    )
    await audit.record(
        session,
        "ticket.message",
        actor,
        "ticket",
        ticket.id,
        message_id=message.id,
        internal=internal,
    )
    if not internal:
        await _notify(
            session,
            ticket,
            "answered",
            f"ticket:{ticket.id}:msg:{message.id}",
            message_id=message.id,
            answer=excerpt(body, ANSWER_EXCERPT_CHARS),
        )
    return message


def excerpt(text: str, limit: int) -> str:
    """`text` when it fits in `limit` characters, else its start cut at a word and ended with
    "…" (within the limit)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:  # a word boundary not too far back
        cut = cut[:space]
    return cut.rstrip() + "…"


async def update_ticket(
    session: AsyncSession, ticket_id: int, data: TicketUpdateIn, actor: Actor
) -> Ticket:
    """Apply a staff change. Setting the status it already has is a no-op, not an error."""
    ticket = await _any_ticket(session, ticket_id, lock=True)
    changes: dict[str, list[Any]] = {}

    if "assignee_id" in data.model_fields_set and data.assignee_id != ticket.assignee_id:
        if data.assignee_id is not None and (
            await repository.active_staff_user(session, data.assignee_id) is None
        ):
            raise InvalidAssignee()
        changes["assignee_id"] = [ticket.assignee_id, data.assignee_id]
        ticket.assignee_id = data.assignee_id
    if data.priority is not None and data.priority is not ticket.priority:
        changes["priority"] = [ticket.priority.value, data.priority.value]
        ticket.priority = data.priority
    if data.category is not None and data.category is not ticket.category:
        changes["category"] = [ticket.category.value, data.category.value]
        ticket.category = data.category
    if data.status is not None and data.status is not ticket.status:
        changes["status"] = [ticket.status.value, data.status.value]
        _set_status(ticket, data.status)

    if not changes:
        return ticket
    ticket.updated_at = utcnow()
    entry = await audit.record(
        session, "ticket.update", actor, "ticket", ticket.id, changes=changes
    )
    await session.flush()
    if "status" in changes:
        # The audit entry id is unique per change, so a retried delivery dedups but two
        # separate changes to the same status each notify.
        await _notify(
            session,
            ticket,
            "status_changed",
            f"ticket:{ticket.id}:status:{entry.id}",
            previous_status=changes["status"][0],
        )
    return ticket
