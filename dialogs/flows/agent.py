"""Talk to an agent: the conversation is queued (waiting_agent), the agents are alerted through
the outbox, and the customer is told the expected wait. The flow state in progress is kept so
the agent sees the slots the bot collected."""

from __future__ import annotations

from typing import ClassVar

from dialogs import handover
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow
from dialogs.state import FlowState
from dialogs.types import Outbound


class TalkToAgentFlow(Flow):
    name = "talk_to_agent"
    intents: ClassVar[frozenset[str]] = frozenset({"talk_to_agent"})
    menu_label = "dialogs-menu-agent"
    keeps_state = True

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        state.misses = 0
        return await handover.request_agent(
            ctx.session,
            ctx.settings,
            ctx.conversation,
            inbound_message_id=ctx.inbound_message_id,
            reason="customer_request",
        )
