"""Conversation states and the hand-over between the bot and the agents (docs/architecture.md,
"Conversation states"):

    bot -> waiting_agent (queued, agents alerted) -> agent (one agent; the bot is silent)
        -> bot (released; the flow starts afresh) or closed (a later message reopens it)

The engine calls `request_agent()`; the agent API (backend/webchat/agent_endpoints.py) calls
the rest. An agent's lists hold the queue and what they hold (claimed or transferred to them);
reading any other conversation is allowed and audited (`conversation.viewed`); only a waiting
or held conversation is closed or transferred, by its holder or an admin. Every change is
audited; what a customer must receive (agent replies, notices) is a stored transcript row plus
an outbox row `conversation.agent_reply` that the channel adapters deliver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import SYSTEM, Actor
from backend.auth import repository as auth_repository
from backend.config import Settings
from backend.documents import service as documents
from backend.documents.errors import DocumentNotFound
from backend.errors import Conflict, Forbidden, NotFound
from backend.i18n import catalog, major
from backend.models import ConversationMessage, ConversationState, MessageSender, Role
from backend.payments import service as payments
from backend.payments.schemas import PaymentIn
from backend.ratelimit import RateLimiter
from dialogs import transcript
from dialogs.state import FlowState, restart
from dialogs.transcript import ConversationRow
from dialogs.types import DocumentOut, HandoverNotice, Outbound, PaymentRequest, Text

# Outbox kinds (routed to the channel adapters, not to e-mail/push).
WAITING_AGENT = "conversation.waiting_agent"
AGENT_REPLY = "conversation.agent_reply"
CUSTOMER_MESSAGE = "conversation.customer_message"
# Redis pub/sub channel of one conversation, for the agent console's live view.
EVENTS_CHANNEL = "conv:{}"
# Redis pub/sub channel of every agent console: queue and presence changes.
AGENTS_CHANNEL = "agents:events"


class ConversationNotFound(NotFound):
    detail = "conversation not found"


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    detail = "another agent has already taken this conversation"


class NotWaiting(Conflict):
    code = "not_waiting"
    detail = "the conversation is not waiting for an agent"


class NotYourConversation(Forbidden):
    code = "not_your_conversation"
    detail = "only the agent holding the conversation may do this"


class AlreadyClosed(Conflict):
    code = "already_closed"
    detail = "the conversation is closed"


class NotHandedOver(Conflict):
    code = "not_handed_over"
    detail = "the bot has this conversation; close or transfer one waiting for or held by an agent"


class AlreadyHolder(Conflict):
    code = "already_holder"
    detail = "that agent already holds the conversation"


class ConversationChanged(Conflict):
    code = "conversation_changed"
    detail = "the conversation changed meanwhile; reload it"


class AgentNotFound(NotFound):
    code = "agent_not_found"
    detail = "no active agent or admin with that id"


class ListNotAllowed(Forbidden):
    code = "list_not_allowed"
    detail = "agents list the waiting conversations and their own; open others by id"


class AnonymousConversation(Conflict):
    code = "conversation_anonymous"
    detail = "the customer of this conversation is not identified; ask them to sign in first"


# Why a conversation outside one's lists was opened, when the agent gives no reason.
OUTSIDE_LISTS = "not_in_agent_lists"
VIEWED = "conversation.viewed"
REQUEUED = "conversation.requeued"


def first_reply_minutes(settings: Settings) -> int:
    return settings.chat_first_reply_minutes


def _t(conv: ConversationRow, key: str, settings: Settings, **args: Any) -> str:
    return catalog().text(key, conv.locale or settings.default_locale, **args)


# --- the customer side (called by the engine) -----------------------------------------------


async def request_agent(
    session: AsyncSession,
    settings: Settings,
    conv: ConversationRow,
    *,
    inbound_message_id: int,
    reason: str,
) -> list[Outbound]:
    """Queue the conversation for an agent and alert the agents (outbox)."""
    if conv.state in (ConversationState.waiting_agent, ConversationState.agent):
        return []
    await transcript.set_state(session, conv.id, ConversationState.waiting_agent)
    await outbox.enqueue(
        session,
        WAITING_AGENT,
        {
            "conversation_id": conv.id,
            "channel": conv.channel,
            "customer_id": conv.customer_id,
            "reason": reason,
        },
        f"conv-waiting:{conv.id}:{inbound_message_id}",
    )
    await audit.record(
        session,
        "conversation.waiting_agent",
        None,
        "conversation",
        conv.id,
        reason=reason,
        customer_id=conv.customer_id,
    )
    text = _t(conv, "dialogs-handover-waiting", settings, minutes=first_reply_minutes(settings))
    return [HandoverNotice(state="waiting_agent", text=text)]


# --- the agent side (called by the agent API) -----------------------------------------------


async def _require(session: AsyncSession, conversation_id: int) -> ConversationRow:
    conv = await transcript.get(session, conversation_id)
    if conv is None:
        raise ConversationNotFound()
    return conv


def _require_holder(conv: ConversationRow, actor: Actor) -> None:
    if conv.state is not ConversationState.agent or conv.agent_id != actor.user_id:
        raise NotYourConversation()


async def _deliver(
    session: AsyncSession,
    conv: ConversationRow,
    item: Outbound,
    sender: MessageSender,
    actor: Actor,
) -> int:
    """Store a message for the customer and the outbox row the channel adapter delivers."""
    agent_id = actor.user_id if sender is MessageSender.agent else None
    (message_id,) = await transcript.add_outbound(
        session, conv.id, [item], sender=sender, agent_id=agent_id
    )
    await outbox.enqueue(
        session,
        AGENT_REPLY,
        {
            "conversation_id": conv.id,
            "message_id": message_id,
            "channel": conv.channel,
            "chat_id": conv.chat_id,
        },
        f"conv-msg:{message_id}",
    )
    return message_id


def _in_lists(conv: ConversationRow, actor: Actor) -> bool:
    """What an agent's lists show: the queue, and what they hold (claimed or transferred)."""
    if conv.state is ConversationState.waiting_agent:
        return True
    return conv.state is ConversationState.agent and conv.agent_id == actor.user_id


async def queue(
    session: AsyncSession, state: ConversationState, actor: Actor, *, limit: int
) -> list[ConversationRow]:
    """Everyone sees the queue; an agent sees the conversations they hold (claimed or
    transferred to them), an admin every held one, and only admins list bot or closed ones."""
    if state is ConversationState.waiting_agent:
        return await transcript.queue(session, state, limit=limit)
    if actor.role is Role.admin:
        return await transcript.queue(session, state, limit=limit)
    if state is ConversationState.agent:
        assert actor.user_id is not None
        return await transcript.queue(session, state, limit=limit, agent_id=actor.user_id)
    raise ListNotAllowed()


async def open_for(
    session: AsyncSession, conversation_id: int, actor: Actor, *, reason: str | None, what: str
) -> ConversationRow:
    """The conversation, for reading its transcript or attachments. One outside the reader's
    lists (with the bot, closed, held by someone else) is shown too - a customer may call about
    it - and the look is audited with its reason."""
    conv = await _require(session, conversation_id)
    if not _in_lists(conv, actor):
        await audit.record(
            session,
            VIEWED,
            actor,
            "conversation",
            conv.id,
            reason=reason or OUTSIDE_LISTS,
            what=what,
            state=conv.state.value,
            holder_id=conv.agent_id,
            customer_id=conv.customer_id,
        )
    return conv


async def _display_name(session: AsyncSession, user_id: int) -> str | None:
    """The name an admin gave the agent for customers to see (backend/auth/admin.py), if any."""
    user = await auth_repository.user_by_id(session, user_id)
    return user.display_name if user is not None else None


async def claim(
    session: AsyncSession, settings: Settings, conversation_id: int, actor: Actor
) -> ConversationRow:
    assert actor.user_id is not None
    if not await transcript.claim(session, conversation_id, actor.user_id):
        conv = await transcript.get(session, conversation_id)
        if conv is None:
            raise ConversationNotFound()
        if conv.state is ConversationState.agent:
            raise AlreadyClaimed()
        raise NotWaiting()
    conv = await _require(session, conversation_id)
    await audit.record(session, "conversation.claimed", actor, "conversation", conv.id)
    name = await _display_name(session, actor.user_id)
    text = (
        _t(conv, "dialogs-handover-agent-joined-named", settings, name=name)
        if name
        else _t(conv, "dialogs-handover-agent-joined", settings)
    )
    notice = HandoverNotice(state="agent", text=text)
    await _deliver(session, conv, notice, MessageSender.system, actor)
    return conv


async def reply(
    session: AsyncSession,
    conversation_id: int,
    actor: Actor,
    *,
    text: str | None,
    document_id: int | None,
) -> int:
    conv = await _require(session, conversation_id)
    _require_holder(conv, actor)
    item: Outbound
    if document_id is not None:
        if conv.customer_id is None:
            raise DocumentNotFound()
        document = await documents.document_for(session, document_id, customer_id=conv.customer_id)
        item = DocumentOut(document_id=document.id, filename=f"{document.title}.pdf", caption=text)
    else:
        assert text is not None
        item = Text(text=text)
    message_id = await _deliver(session, conv, item, MessageSender.agent, actor)
    await audit.record(
        session,
        "conversation.agent_replied",
        actor,
        "conversation",
        conv.id,
        message_id=message_id,
        document_id=document_id,
    )
    return message_id


async def release(
    session: AsyncSession, settings: Settings, conversation_id: int, actor: Actor
) -> ConversationRow:
    """Back to the bot. The flow starts afresh (a higher revision than any copy in Redis)."""
    conv = await _require(session, conversation_id)
    if not (actor.role is Role.admin and conv.state is ConversationState.agent):
        _require_holder(conv, actor)
    await transcript.set_state(session, conv.id, ConversationState.bot, flow=restart(conv.flow))
    notice = HandoverNotice(state="bot", text=_t(conv, "dialogs-handover-released", settings))
    await _deliver(session, conv, notice, MessageSender.system, actor)
    await audit.record(session, "conversation.released", actor, "conversation", conv.id)
    return await _require(session, conversation_id)


async def close(
    session: AsyncSession,
    settings: Settings,
    conversation_id: int,
    actor: Actor,
    *,
    resolution: str,
) -> ConversationRow:
    conv = await _require(session, conversation_id)
    if conv.state is ConversationState.closed:
        raise AlreadyClosed()
    if conv.state is ConversationState.bot:
        raise NotHandedOver()
    if actor.role is not Role.admin:
        _require_holder(conv, actor)  # a waiting one is claimed first
    await transcript.set_state(session, conv.id, ConversationState.closed, flow=restart(conv.flow))
    notice = HandoverNotice(state="closed", text=_t(conv, "dialogs-handover-closed", settings))
    await _deliver(session, conv, notice, MessageSender.system, actor)
    await audit.record(
        session, "conversation.closed", actor, "conversation", conv.id, resolution=resolution
    )
    return await _require(session, conversation_id)


async def transfer(
    session: AsyncSession,
    settings: Settings,
    conversation_id: int,
    actor: Actor,
    *,
    to_agent_id: int,
) -> ConversationRow:
    """Hand a held conversation to another agent (the holder or an admin), or assign a waiting
    one (an admin). The customer is told; the bot stays silent."""
    conv = await _require(session, conversation_id)
    if conv.state is ConversationState.closed:
        raise AlreadyClosed()
    if conv.state is ConversationState.bot:
        raise NotHandedOver()
    if actor.role is not Role.admin:
        _require_holder(conv, actor)
    target = await auth_repository.user_by_id(session, to_agent_id)
    if target is None or not target.is_active or target.role not in (Role.agent, Role.admin):
        raise AgentNotFound()
    if conv.state is ConversationState.agent and conv.agent_id == to_agent_id:
        raise AlreadyHolder()
    moved = await transcript.set_agent(
        session, conv.id, state=conv.state, agent_id=conv.agent_id, to_agent_id=to_agent_id
    )
    if not moved:
        raise ConversationChanged()
    text = (
        _t(conv, "dialogs-handover-transferred-named", settings, name=target.display_name)
        if target.display_name
        else _t(conv, "dialogs-handover-transferred", settings)
    )
    notice = HandoverNotice(state="agent", text=text)
    await _deliver(session, conv, notice, MessageSender.system, actor)
    await audit.record(
        session,
        "conversation.transferred",
        actor,
        "conversation",
        conv.id,
        from_agent_id=conv.agent_id,
        to_agent_id=to_agent_id,
    )
    return await _require(session, conversation_id)


@dataclass(frozen=True, slots=True)
class Detail:
    conversation: ConversationRow
    messages: list[ConversationMessage]
    flow: FlowState


async def detail(
    session: AsyncSession,
    conversation_id: int,
    actor: Actor,
    *,
    limit: int,
    reason: str | None = None,
) -> Detail:
    conv = await open_for(session, conversation_id, actor, reason=reason, what="transcript")
    rows = await transcript.messages(session, conv.id, limit=limit)
    return Detail(conversation=conv, messages=rows, flow=FlowState.from_json(conv.flow))


# --- the agent console (backend/webchat/console_*.py) ----------------------------------------


async def held_by_holder(
    session: AsyncSession, conversation_id: int, actor: Actor
) -> ConversationRow:
    """The conversation, if the caller holds it (else `not_your_conversation`)."""
    conv = await _require(session, conversation_id)
    _require_holder(conv, actor)
    return conv


async def held_or_admin(
    session: AsyncSession, conversation_id: int, actor: Actor
) -> ConversationRow:
    """The conversation, for its holder; an admin may act on any conversation."""
    conv = await _require(session, conversation_id)
    if actor.role is not Role.admin:
        _require_holder(conv, actor)
    return conv


async def reply_payment(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    conversation_id: int,
    actor: Actor,
    *,
    amount: int,
) -> tuple[int, PaymentRequest]:
    """A payment link for the conversation's customer, sent as the agent's message: the same
    pending payment and `payment` item the top-up flow makes, so the widget and Telegram render
    it as they render the bot's (a payment link; Telegram invoices are the bot's own flow)."""
    conv = await held_by_holder(session, conversation_id, actor)
    if conv.customer_id is None:
        raise AnonymousConversation()
    payment = await payments.create_payment(
        session,
        settings,
        limiter,
        customer_id=conv.customer_id,
        data=PaymentIn(amount=amount),
        idempotency_key=None,
        actor=actor,
    )
    item = PaymentRequest(
        payment_public_id=payment.public_id,
        amount=payment.amount,
        currency=payment.currency,
        confirmation_url=payment.confirmation_url,
        text=_t(conv, "dialogs-topup-link", settings, amount=major(payment.amount)),
    )
    message_id = await _deliver(session, conv, item, MessageSender.agent, actor)
    await audit.record(
        session,
        "conversation.agent_payment_link",
        actor,
        "conversation",
        conv.id,
        message_id=message_id,
        payment_id=payment.public_id,
        amount=payment.amount,
        customer_id=conv.customer_id,
    )
    return message_id, item


async def notify_customer(
    session: AsyncSession, conv: ConversationRow, actor: Actor, text: str
) -> int:
    """A system line in the conversation (e.g. "ticket #12 opened"), delivered like a notice."""
    return await _deliver(session, conv, Text(text=text), MessageSender.system, actor)


async def held_awaiting_reply(
    session: AsyncSession, agent_id: int, *, limit: int = 500
) -> list[int]:
    """The conversations the agent holds whose customer wrote after the agent's last message."""
    held = await transcript.queue(session, ConversationState.agent, limit=limit, agent_id=agent_id)
    waiting = await transcript.awaiting_reply(session, [c.id for c in held])
    return [c.id for c in held if c.id in waiting]


async def requeue(
    session: AsyncSession,
    settings: Settings,
    conversation_id: int,
    agent_id: int,
    actor: Actor | None,
    *,
    reason: str,
) -> bool:
    """Put a conversation the agent holds back in the queue (the agent went offline or their
    console went away): the customer is told, the agents are alerted as for a new request.
    False when the agent no longer holds it."""
    conv = await transcript.get(session, conversation_id)
    if conv is None or not await transcript.requeue(session, conversation_id, agent_id):
        return False
    notice = HandoverNotice(
        state="waiting_agent",
        text=_t(conv, "dialogs-handover-requeued", settings, minutes=first_reply_minutes(settings)),
    )
    message_id = await _deliver(session, conv, notice, MessageSender.system, actor or SYSTEM)
    await outbox.enqueue(
        session,
        WAITING_AGENT,
        {
            "conversation_id": conv.id,
            "channel": conv.channel,
            "customer_id": conv.customer_id,
            "reason": reason,
        },
        f"conv-requeued:{conv.id}:{message_id}",
    )
    await audit.record(
        session,
        REQUEUED,
        actor,
        "conversation",
        conv.id,
        from_agent_id=agent_id,
        reason=reason,
        customer_id=conv.customer_id,
    )
    return True
