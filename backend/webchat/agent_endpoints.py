"""The agent API: the queue of conversations waiting for an agent, claiming one (atomic),
replying, handing back to the bot, closing, and the transcript. Agents and admins with 2FA.

Replies are stored in the transcript and handed to the channel adapters through the outbox
(kind `conversation.agent_reply`); this API sends nothing itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.billing import service as billing
from backend.billing.tasks import business_today
from backend.customers import service as customers
from backend.deps import CurrentStaff, RedisDep, SessionDep, SettingsDep, actor_of
from backend.errors import NotFound
from backend.models import ConversationState
from backend.webchat.agent_schemas import (
    BotState,
    CloseIn,
    ConversationDetail,
    ConversationList,
    ConversationOut,
    CustomerSummary,
    MessageCreated,
    MessageOut,
    ReplyIn,
)
from dialogs import handover
from dialogs.state import FlowStore
from dialogs.transcript import ConversationRow

router = APIRouter(tags=["agent"])


def _out(conv: ConversationRow) -> ConversationOut:
    return ConversationOut(
        id=conv.id,
        channel=conv.channel,
        state=conv.state.value,
        customer_id=conv.customer_id,
        agent_id=conv.agent_id,
        locale=conv.locale,
        updated_at=conv.updated_at,
    )


@router.get("/agent/conversations")
async def conversation_queue(
    session: SessionDep,
    staff: CurrentStaff,
    state: Annotated[ConversationState, Query()] = ConversationState.waiting_agent,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationList:
    """Conversations in a state, the longest waiting first."""
    rows = await handover.queue(session, state, limit=limit)
    return ConversationList(items=[_out(c) for c in rows])


@router.post("/agent/conversations/{conversation_id}/claim")
async def claim_conversation(
    conversation_id: int, session: SessionDep, settings: SettingsDep, staff: CurrentStaff
) -> ConversationOut:
    """Take a waiting conversation. Of two agents claiming at once exactly one wins; the other
    gets 409 `already_claimed`."""
    return _out(await handover.claim(session, settings, conversation_id, actor_of(staff)))


@router.post("/agent/conversations/{conversation_id}/messages", status_code=201)
async def reply_to_customer(
    conversation_id: int, body: ReplyIn, session: SessionDep, staff: CurrentStaff
) -> MessageCreated:
    """Reply with text or one of the customer's documents (only the agent holding it)."""
    message_id = await handover.reply(
        session, conversation_id, actor_of(staff), text=body.text, document_id=body.document_id
    )
    return MessageCreated(message_id=message_id)


@router.post("/agent/conversations/{conversation_id}/release")
async def release_conversation(
    conversation_id: int,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
    staff: CurrentStaff,
) -> ConversationOut:
    """Hand the conversation back to the bot, which starts afresh."""
    conv = await handover.release(session, settings, conversation_id, actor_of(staff))
    # The database copy already has a newer revision; dropping Redis's only saves a compare.
    await FlowStore(redis).forget(conv.id)
    return _out(conv)


@router.post("/agent/conversations/{conversation_id}/close")
async def close_conversation(
    conversation_id: int, body: CloseIn, session: SessionDep, settings: SettingsDep,
    staff: CurrentStaff,
) -> ConversationOut:  # fmt: skip
    """Close with a resolution; the customer's next message reopens it with the bot."""
    return _out(
        await handover.close(
            session, settings, conversation_id, actor_of(staff), resolution=body.resolution
        )
    )


@router.get("/agent/conversations/{conversation_id}")
async def conversation_detail(
    conversation_id: int,
    session: SessionDep,
    settings: SettingsDep,
    staff: CurrentStaff,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> ConversationDetail:
    """The transcript (newest `limit` messages), the bot's flow and slots, and the customer."""
    found = await handover.detail(session, conversation_id, limit=limit)
    conv = found.conversation
    customer = None
    if conv.customer_id is not None:
        try:
            c = await customers.get_customer(session, conv.customer_id)
            bal = await billing.balance(session, conv.customer_id, business_today(settings))
            sub = await billing.subscription(session, conv.customer_id)
            customer = CustomerSummary(
                id=c.id,
                full_name=c.full_name,
                contract_number=c.contract_number,
                balance=bal.amount,
                currency=bal.currency,
                days_left=bal.days_left,
                tariff=sub.tariff_name if sub else None,
                subscription_status=sub.status.value if sub else None,
            )
        except NotFound:
            customer = None
    return ConversationDetail(
        conversation=_out(conv),
        bot=BotState(
            flow=found.flow.flow,
            step=found.flow.step,
            slots=found.flow.slots,
            misses=found.flow.misses,
        ),
        customer=customer,
        messages=[
            MessageOut(
                id=m.id,
                direction=m.direction.value,
                sender=m.sender.value,
                agent_id=m.agent_id,
                text=m.text,
                item=(m.payload or {}).get("item"),
                created_at=m.created_at,
            )
            for m in found.messages
        ],
    )
