"""Support tickets.

The customer's list (`GET /tickets`) and the staff queue (`GET /agent/tickets`) are separate
endpoints: they differ in filters, ordering and visible fields, and a customer's request then
has no `customer_id` parameter to tamper with. Single-ticket endpoints are shared and answer
according to the caller's role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from backend.auth.tokens import Principal
from backend.deps import (
    CurrentCustomer,
    CurrentStaff,
    CurrentUser,
    SessionDep,
    actor_of,
    customer_scope,
)
from backend.errors import refusals
from backend.support import service
from backend.support.errors import (
    InternalNoteForbidden,
    InvalidAssignee,
    InvalidTransition,
    TicketClosed,
    TicketNotFound,
)
from backend.support.schemas import (
    CustomerTicketFilter,
    MessageIn,
    MessageOut,
    QueueFilter,
    StaffTicketDetail,
    StaffTicketOut,
    TicketCreateIn,
    TicketDetail,
    TicketList,
    TicketOut,
    TicketQueue,
    TicketUpdateIn,
)
from backend.validation import MAX_ID

router = APIRouter(tags=["support"])

TicketId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _customer_id_or_staff(principal: Principal) -> int | None:
    return customer_scope(principal)


@router.post("/tickets", status_code=status.HTTP_201_CREATED)
async def create_ticket(
    data: TicketCreateIn, principal: CurrentCustomer, session: SessionDep
) -> TicketOut:
    """Open a support ticket. `critical` priority is reserved for staff triage."""
    assert principal.customer_id is not None
    ticket = await service.create_ticket(
        session,
        customer_id=principal.customer_id,
        subject=data.subject,
        description=data.description,
        category=data.category,
        priority=data.priority,
        actor=actor_of(principal),
    )
    return TicketOut.model_validate(ticket)


@router.get("/tickets")
async def list_my_tickets(
    filters: Annotated[CustomerTicketFilter, Query()],
    principal: CurrentCustomer,
    session: SessionDep,
) -> TicketList:
    """The caller's own tickets, newest first. Staff use `GET /agent/tickets`."""
    assert principal.customer_id is not None
    tickets, total = await service.customer_tickets(session, principal.customer_id, filters)
    return TicketList(
        items=[TicketOut.model_validate(t) for t in tickets],
        total=total,
        limit=filters.limit,
        offset=filters.offset,
    )


@router.get("/agent/tickets")
async def ticket_queue(
    filters: Annotated[QueueFilter, Query()], principal: CurrentStaff, session: SessionDep
) -> TicketQueue:
    """The staff queue over every customer: most urgent first (critical to low), then oldest
    first. Repeat `status`, `priority` or `category` to match any of several values; `q`
    finds text in the subject or description, or a ticket number (`12` or `#12`);
    `unassigned=true` keeps the tickets nobody is assigned to."""
    tickets, total = await service.queue(session, filters)
    return TicketQueue(
        items=[StaffTicketOut.model_validate(t) for t in tickets],
        total=total,
        limit=filters.limit,
        offset=filters.offset,
    )


@router.get("/tickets/{ticket_id}", responses=refusals(TicketNotFound))
async def get_ticket(
    ticket_id: TicketId, principal: CurrentUser, session: SessionDep
) -> StaffTicketDetail | TicketDetail:
    """One ticket with its conversation. Customers see only their own tickets (anything else
    is 404) and never internal notes; staff see every ticket, internal notes included."""
    customer_id = _customer_id_or_staff(principal)
    if customer_id is None:
        ticket, messages = await service.ticket_for_staff(session, ticket_id)
        return StaffTicketDetail(
            **StaffTicketOut.model_validate(ticket).model_dump(),
            messages=[MessageOut.model_validate(m) for m in messages],
        )
    ticket, messages = await service.ticket_for_customer(session, customer_id, ticket_id)
    return TicketDetail(
        **TicketOut.model_validate(ticket).model_dump(),
        messages=[MessageOut.model_validate(m) for m in messages],
    )


@router.patch(
    "/tickets/{ticket_id}", responses=refusals(TicketNotFound, InvalidTransition, InvalidAssignee)
)
async def update_ticket(
    ticket_id: TicketId, data: TicketUpdateIn, principal: CurrentStaff, session: SessionDep
) -> StaffTicketOut:
    """Staff: change status, priority, category or assignee (`null` unassigns).

    Status moves: open -> in_progress | resolved | closed; in_progress -> open | resolved |
    closed; resolved -> open | closed; closed is final. A status change notifies the
    customer."""
    ticket = await service.update_ticket(session, ticket_id, data, actor_of(principal))
    return StaffTicketOut.model_validate(ticket)


@router.post(
    "/tickets/{ticket_id}/messages",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(InternalNoteForbidden, TicketNotFound, TicketClosed),
)
async def add_message(
    ticket_id: TicketId, data: MessageIn, principal: CurrentUser, session: SessionDep
) -> MessageOut:
    """Write on a ticket. A customer writing on a resolved ticket reopens it; a closed ticket
    refuses. Staff may set `internal: true` for a note the customer never sees; other staff
    replies notify the customer."""
    customer_id = _customer_id_or_staff(principal)
    actor = actor_of(principal)
    if customer_id is None:
        message = await service.add_staff_message(
            session, ticket_id, data.body, data.internal, actor
        )
    else:
        if data.internal:
            raise InternalNoteForbidden()
        message = await service.add_customer_message(
            session, customer_id, ticket_id, data.body, actor
        )
    return MessageOut.model_validate(message)
