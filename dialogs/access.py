"""Cutting a conversation off from a customer (docs/security.md, "Conversations and linked
accounts"). A conversation speaks for the customer its channel adapter vouches for on each turn;
when that changes outside a turn (the Telegram account is unlinked or linked to another
contract, the customer is deactivated) the conversations of that identity are cut at once, in
the caller's transaction:

- `customer_id` becomes the new customer, or None (the next turn is anonymous);
- the flow state starts afresh with a higher revision than any copy in Redis, so every process
  loads the empty one (dialogs/state.py takes the higher revision); the conversation's language
  was that customer's choice and goes too;
- one audit row per conversation (`conversation.customer_detached`).

A Telegram private chat's id is the Telegram user id, so a Telegram identity's conversation is
the one with `chat_id` = its external id."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from dialogs import transcript
from dialogs.state import FlowState, restart
from dialogs.transcript import ConversationRow

DETACHED = "conversation.customer_detached"


async def _move(
    session: AsyncSession,
    rows: Sequence[ConversationRow],
    to_customer: int | None,
    actor: Actor | None,
    reason: str,
) -> list[int]:
    cut: list[int] = []
    for conv in rows:
        state = FlowState.from_json(conv.flow)
        previous = conv.customer_id
        if previous is None and not state.belongs_to_another(to_customer):
            # anonymous until now (identification pending): nothing of anyone's to drop
            if to_customer is not None:
                await transcript.set_customer(session, conv.id, to_customer, flow=None)
            continue
        if previous == to_customer and not state.belongs_to_another(to_customer):
            continue
        await transcript.set_customer(session, conv.id, to_customer, flow=restart(conv.flow))
        await audit.record(
            session,
            DETACHED,
            actor,
            "conversation",
            conv.id,
            customer_id=previous,
            to_customer_id=to_customer,
            reason=reason,
            state=conv.state.value,
        )
        cut.append(conv.id)
    return cut


async def cut_chats(
    session: AsyncSession,
    channel: str,
    chat_ids: Sequence[str],
    *,
    to_customer: int | None,
    actor: Actor | None,
    reason: str,
    customer_id: int | None = None,
) -> list[int]:
    """Give these chats of `channel` (and, with `customer_id`, every other conversation of that
    customer on the channel) to `to_customer`, or to nobody. Returns the ids of the
    conversations whose customer and flow state were cut."""
    rows = await transcript.lock_for_cut(
        session, channel=channel, chat_ids=chat_ids, customer_id=customer_id
    )
    return await _move(session, rows, to_customer, actor, reason)


async def cut_customer(
    session: AsyncSession, customer_id: int, *, actor: Actor | None, reason: str
) -> list[int]:
    """Every conversation of the customer, on every channel, becomes anonymous."""
    rows = await transcript.lock_for_cut(session, customer_id=customer_id)
    return await _move(session, rows, None, actor, reason)
