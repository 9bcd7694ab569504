"""Tickets: open one (a description, a category, a priority derived from the category, confirm,
create, the number) and ask for the status of one (by number, or a pick from the latest).

Only the customer's own tickets are shown: another customer's number gets the same "not found"
as a number that does not exist, so numbers cannot be probed."""

from __future__ import annotations

from typing import ClassVar

from backend.models import (
    Role,
    Ticket,
    TicketCategory,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from backend.support import service as support
from backend.support.errors import TicketNotFound
from backend.support.schemas import CustomerTicketFilter
from backend.validation import MAX_ID
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, customer_actor, menu_row, nav_row, say
from dialogs.flows.no_internet import reply_time, ticket_reply_rows
from dialogs.state import FlowState
from dialogs.types import Outbound

OPEN_TICKET = "open_ticket"
TICKET_STATUS = "ticket_status"
DESCRIBE, CATEGORY, CONFIRM, PICK = "describe", "category", "confirm", "pick"

MIN_DESCRIPTION_CHARS = 5
MAX_SUBJECT_CHARS = 200
LATEST = 5
# A staff reply quoted in the status answer: enough to recognise it, short enough for a chat.
MAX_QUOTE_CHARS = 500


def priority_for(category: TicketCategory) -> TicketPriority:
    """A customer without internet cannot wait in the general queue."""
    return TicketPriority.high if category is TicketCategory.no_internet else TicketPriority.medium


class OpenTicketFlow(Flow):
    name = OPEN_TICKET
    intents: ClassVar[frozenset[str]] = frozenset({"open_ticket"})
    needs_customer = True

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        state.start(self.name, DESCRIBE)
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        if state.step == DESCRIBE:
            return [say(ctx.t("dialogs-support-ticket-describe"), nav_row(ctx, back=False))]
        if state.step == CATEGORY:
            buttons = [
                self.btn(ctx, "dialogs-support-category", CATEGORY, c.value, category=c.value)
                for c in TicketCategory
            ]
            rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
            return [say(ctx.t("dialogs-support-ticket-category"), *rows, nav_row(ctx))]
        if state.step == CONFIRM:
            category = TicketCategory(state.slots["category"])
            text = ctx.t(
                "dialogs-support-ticket-confirm",
                category=ctx.t("dialogs-support-category", category=category.value),
                priority=ctx.t("dialogs-support-priority", priority=priority_for(category).value),
                description=state.slots["description"],
            )
            create = self.btn(ctx, "dialogs-support-confirm", CONFIRM, "yes")
            return [say(text, (create,), nav_row(ctx))]
        return []

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        if state.step == DESCRIBE:
            if turn.text is None:
                return None
            description = turn.text.strip()
            if sum(ch.isalnum() for ch in description) < MIN_DESCRIPTION_CHARS:
                return [say(ctx.t("dialogs-support-ticket-too-short"), nav_row(ctx, back=False))]
            state.slots["description"] = description
            state.goto(CATEGORY)
            return await self.ask(ctx, state)
        if state.step == CATEGORY:
            if turn.arg not in {c.value for c in TicketCategory}:
                return None
            state.slots["category"] = turn.arg
            state.goto(CONFIRM)
            return await self.ask(ctx, state)
        confirmed = turn.arg == "yes" or (turn.button is None and turn.intent.name == "affirm")
        if state.step == CONFIRM and confirmed:
            return await self._create(ctx, state)
        return None

    async def _create(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        category = TicketCategory(state.slots["category"])
        description = str(state.slots["description"])
        label = ctx.t("dialogs-support-category", category=category.value)
        subject = f"{label}: {' '.join(description.split())}"
        if len(subject) > MAX_SUBJECT_CHARS:
            subject = subject[: MAX_SUBJECT_CHARS - 1] + "…"
        state.finish()
        ticket = await support.create_ticket(
            ctx.session,
            customer_id=ctx.customer_id,
            subject=subject,
            description=description,
            actor=customer_actor(),
            category=category,
            priority=priority_for(category),
            details={"source": "bot", "conversation_id": ctx.conversation.id},
        )
        text = (
            f"{ctx.t('dialogs-support-ticket-created', number=str(ticket.id))}\n{reply_time(ctx)}"
        )
        return [say(text, *ticket_reply_rows(ctx))]


class TicketStatusFlow(Flow):
    name = TICKET_STATUS
    intents: ClassVar[frozenset[str]] = frozenset({"ticket_status"})
    needs_customer = True

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        number = _ticket_number(turn)
        if number is not None:
            return await self._show(ctx, state, number)
        state.start(self.name, PICK)
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        tickets, _total = await support.customer_tickets(
            ctx.session, ctx.customer_id, CustomerTicketFilter(limit=LATEST)
        )
        if not tickets:
            state.finish()
            return [say(ctx.t("dialogs-support-status-none"), menu_row(ctx))]
        lines = [ctx.t("dialogs-support-status-latest", count=len(tickets))]
        lines += [_line(ctx, ticket) for ticket in tickets]
        lines.append(ctx.t("dialogs-support-status-pick"))
        buttons = [
            self.btn(ctx, "dialogs-support-status-button", PICK, t.id, number=str(t.id))
            for t in tickets
        ]
        rows = [tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3)]
        return [say("\n".join(lines), *rows, nav_row(ctx, back=False))]

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        if state.step != PICK:
            return None
        number = _ticket_number(turn)
        if number is None:
            return None
        return await self._show(ctx, state, number)

    async def _show(self, ctx: TurnContext, state: FlowState, number: str) -> list[Outbound]:
        assert ctx.customer_id is not None
        state.finish()
        ticket_id = int(number)
        try:
            if not 0 < ticket_id <= MAX_ID:
                raise TicketNotFound()
            ticket, messages = await support.ticket_for_customer(
                ctx.session, ctx.customer_id, ticket_id
            )
        except TicketNotFound:
            return [say(ctx.t("dialogs-support-status-not-found", number=number), menu_row(ctx))]
        lines = [
            ctx.t(
                "dialogs-support-status-detail",
                number=str(ticket.id),
                subject=ticket.subject,
                status=ticket.status.value,
                created=ctx.day(ticket.created_at.date()),
            )
        ]
        reply = _last_staff_reply(messages)
        if reply is not None:
            body = " ".join(reply.body.split())
            if len(body) > MAX_QUOTE_CHARS:
                body = body[: MAX_QUOTE_CHARS - 1] + "…"
            lines.append(ctx.t("dialogs-support-status-reply", reply=body))
        elif ticket.status in (TicketStatus.open, TicketStatus.in_progress):
            lines.append(ctx.t("dialogs-support-status-no-reply"))
        return [say("\n".join(lines), *ticket_reply_rows(ctx))]


def _line(ctx: TurnContext, ticket: Ticket) -> str:
    return ctx.t(
        "dialogs-support-status-line",
        number=str(ticket.id),
        subject=ticket.subject,
        status=ticket.status.value,
    )


def _last_staff_reply(messages: list[TicketMessage]) -> TicketMessage | None:
    staff = [m for m in messages if m.author_role is not Role.customer and not m.internal]
    return staff[-1] if staff else None


def _ticket_number(turn: TurnInput) -> str | None:
    """The ticket id from a pick button, the NLU's ticket_id entity, or a bare number typed at
    the pick step."""
    if turn.button is not None:
        return turn.arg if turn.arg and turn.arg.isdigit() else None
    value = turn.intent.entities.get("ticket_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    text = (turn.text or "").strip().lstrip("№#").strip()
    if text.isdigit():
        return text
    return None


def flows() -> list[Flow]:
    return [OpenTicketFlow(), TicketStatusFlow()]
