"""Identification: a flow that needs a customer, in a conversation that has none, hands over
here. How a chat gets linked depends on the channel (docs/architecture.md, "Identity across
channels"); the channel adapters implement the linking itself and then pass `customer_id` in
`Inbound`. Until then this step explains how to link; once the conversation has a customer,
the engine starts the flow that asked (slot `then`)."""

from __future__ import annotations

from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, nav_row, say
from dialogs.state import FlowState
from dialogs.types import Outbound

NAME = "identify"


class IdentifyFlow(Flow):
    name = NAME

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        then = state.slots.get("then") if state.flow == NAME else None
        state.start(NAME, "link", {"then": then})
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        return [say(ctx.t(f"dialogs-identify-{ctx.channel}"), nav_row(ctx, back=False))]

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        # Text here is not a contract number we can check yet (the linking issues add that):
        # let the engine route it (another intent) or ask again.
        return None
