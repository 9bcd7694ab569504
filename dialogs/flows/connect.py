"""Connect at a new address: the address, a name and a phone, confirm, then a connection-request
ticket with the contact data in its details. Anonymous visitors can use it (the ticket has no
customer then); a linked chat's ticket belongs to its customer."""

from __future__ import annotations

from typing import Any, ClassVar

from backend.audit.service import Actor
from backend.models import Role, TicketCategory, TicketPriority
from backend.support import service as support
from backend.validation import normalize_phone
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, menu_row, nav_row, say
from dialogs.state import FlowState
from dialogs.types import Outbound

CONNECT_NEW = "connect_new"
ADDRESS, NAME, PHONE, CONFIRM = "address", "name", "phone", "confirm"

MIN_ADDRESS_CHARS = 8
MAX_ADDRESS_CHARS = 300
MAX_NAME_CHARS = 100


class ConnectNewFlow(Flow):
    name = CONNECT_NEW
    intents: ClassVar[frozenset[str]] = frozenset({"connect_new"})

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        state.start(self.name, ADDRESS)
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        if state.step == ADDRESS:
            return [say(ctx.t("dialogs-support-connect-address"), nav_row(ctx, back=False))]
        if state.step == NAME:
            return [say(ctx.t("dialogs-support-connect-name"), nav_row(ctx))]
        if state.step == PHONE:
            return [say(ctx.t("dialogs-support-connect-phone"), nav_row(ctx))]
        if state.step == CONFIRM:
            slots = state.slots
            text = ctx.t(
                "dialogs-support-connect-confirm",
                address=slots["address"],
                name=slots["name"],
                phone=slots["phone"],
            )
            confirm = self.btn(ctx, "dialogs-support-confirm", CONFIRM, "yes")
            return [say(text, (confirm,), nav_row(ctx))]
        return []

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        text = " ".join((turn.text or "").split())
        if state.step == ADDRESS:
            if not text:
                return None
            if sum(ch.isalnum() for ch in text) < MIN_ADDRESS_CHARS:
                return [
                    say(ctx.t("dialogs-support-connect-address-short"), nav_row(ctx, back=False))
                ]
            state.slots["address"] = text[:MAX_ADDRESS_CHARS]
            state.goto(NAME)
            return await self.ask(ctx, state)
        if state.step == NAME:
            if not text:
                return None
            state.slots["name"] = text[:MAX_NAME_CHARS]
            state.goto(PHONE)
            return await self.ask(ctx, state)
        if state.step == PHONE:
            if not text:
                return None
            try:
                phone = normalize_phone(text)
            except ValueError:
                return [say(ctx.t("dialogs-support-connect-bad-phone"), nav_row(ctx))]
            state.slots["phone"] = phone
            state.goto(CONFIRM)
            return await self.ask(ctx, state)
        confirmed = turn.arg == "yes" or (turn.button is None and turn.intent.name == "affirm")
        if state.step == CONFIRM and confirmed:
            return await self._create(ctx, state)
        return None

    async def _create(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        slots = dict(state.slots)
        state.finish()
        details: dict[str, Any] = {
            "source": "bot",
            "channel": ctx.channel,
            "conversation_id": ctx.conversation.id,
            "address": slots["address"],
            "name": slots["name"],
            "phone": slots["phone"],
        }
        actor = Actor(user_id=None, role=Role.customer if ctx.customer_id else None)
        ticket = await support.create_ticket(
            ctx.session,
            customer_id=ctx.customer_id,
            subject=ctx.t("dialogs-support-connect-subject"),
            description=ctx.t(
                "dialogs-support-connect-description",
                address=slots["address"],
                name=slots["name"],
                phone=slots["phone"],
            ),
            actor=actor,
            category=TicketCategory.connection,
            priority=TicketPriority.medium,
            details=details,
        )
        text = ctx.t("dialogs-support-connect-created", number=str(ticket.id), phone=slots["phone"])
        return [say(text, menu_row(ctx))]


def flows() -> list[Flow]:
    return [ConnectNewFlow()]
