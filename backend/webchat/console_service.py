"""What the agent console does beyond the hand-over itself (dialogs/handover.py): the queue's
details, internal notes, canned responses, turning a conversation into a ticket, the customer's
card and the customer search (docs/agent-console.md, "API"). Every change is audited in the same
transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.auth import repository as auth_repository
from backend.billing import repository as billing_repository
from backend.billing import service as billing
from backend.billing import suspensions
from backend.clock import business_today, utcnow
from backend.config import Settings
from backend.customers import service as customers
from backend.documents import service as documents
from backend.documents.schemas import DocumentFilter
from backend.i18n import catalog, major
from backend.models import (
    CannedResponse,
    Channel,
    ConversationState,
    MessageSender,
    SuspensionStatus,
    Ticket,
    TicketCategory,
    TicketStatus,
    User,
)
from backend.payments import service as payments
from backend.redis import Redis
from backend.support import service as support
from backend.support.schemas import CustomerTicketFilter
from backend.webchat import console_repository as repository
from backend.webchat.agent_schemas import ConversationItem, ConversationList, NoteOut
from backend.webchat.console_events import publish
from backend.webchat.console_schemas import (
    CannedIn,
    CannedPatch,
    ChannelCard,
    ConversationCard,
    CustomerCard,
    CustomerHit,
    DeliveryCard,
    DocumentCard,
    FreezeCard,
    PaymentCard,
    PromisedCard,
    TariffCard,
    TicketCard,
)
from backend.webchat.errors import CannedResponseNotFound
from dialogs import handover, transcript
from dialogs.handover import EVENTS_CHANNEL
from dialogs.state import FlowState
from dialogs.transcript import ConversationRow

LAST_MESSAGE_CHARS = 200
SEARCH_LIMIT = 20
# how much of the transcript a ticket made from a conversation carries
TICKET_EXCERPT_MESSAGES = 30
TICKET_DESCRIPTION_CHARS = 5000

# --- the queue ------------------------------------------------------------------------------


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def conversation_out(conv: ConversationRow, **extras: Any) -> ConversationItem:
    return ConversationItem(
        id=conv.id,
        channel=conv.channel,
        state=conv.state.value,
        customer_id=conv.customer_id,
        agent_id=conv.agent_id,
        locale=conv.locale,
        updated_at=conv.updated_at,
        **extras,
    )


async def conversation_list(
    session: AsyncSession, rows: Sequence[ConversationRow], now: datetime | None = None
) -> ConversationList:
    """The conversations with the customer's name and contract, the last message, how long
    each has been in its state, the slots the bot collected, and whether the customer awaits
    an answer. Three statements for the whole list."""
    now = now or utcnow()
    ids = [c.id for c in rows]
    names = await repository.customer_names(
        session, sorted({c.customer_id for c in rows if c.customer_id is not None})
    )
    last = await transcript.last_messages(session, ids)
    waiting = await transcript.awaiting_reply(session, ids)
    items = []
    for c in rows:
        name = names.get(c.customer_id) if c.customer_id is not None else None
        message = last.get(c.id)
        items.append(
            conversation_out(
                c,
                customer_name=name.full_name if name else None,
                contract_number=name.contract_number if name else None,
                last_message=_truncate(message.text, LAST_MESSAGE_CHARS) if message else None,
                last_message_from=message.sender.value if message else None,
                waiting_seconds=max(0, int((now - c.updated_at).total_seconds())),
                slots=FlowState.from_json(c.flow).slots,
                awaiting_reply=c.id in waiting,
            )
        )
    return ConversationList(items=items)


async def held(session: AsyncSession, agent_id: int, *, limit: int = 200) -> list[ConversationRow]:
    """What the agent holds, the longest held first."""
    return await transcript.queue(session, ConversationState.agent, limit=limit, agent_id=agent_id)


async def staff(session: AsyncSession) -> list[User]:
    return await repository.staff(session)


async def publish_typing(redis: Redis, conversation_id: int, name: str | None) -> None:
    """Ephemeral: the widget shows "... is typing"; nothing is stored."""
    await publish(
        redis,
        EVENTS_CHANNEL.format(conversation_id),
        {"type": "typing", "conversation_id": conversation_id, "from": "agent", "name": name},
    )


# --- notes ----------------------------------------------------------------------------------


async def add_note(session: AsyncSession, conversation_id: int, actor: Actor, text: str) -> NoteOut:
    """Any agent or admin may note on any conversation (a supervisor's hint, a colleague's
    earlier call); the customer never sees it."""
    conv = await transcript.get(session, conversation_id)
    if conv is None:
        raise handover.ConversationNotFound()
    note = await repository.add_note(session, conv.id, actor.user_id, text)
    await audit.record(
        session,
        "conversation.note_added",
        actor,
        "conversation",
        conv.id,
        note_id=note.id,
        customer_id=conv.customer_id,
    )
    names = await repository.user_names(session, [actor.user_id] if actor.user_id else [])
    return NoteOut(
        id=note.id,
        author_id=note.author_id,
        author_name=names.get(actor.user_id) if actor.user_id else None,
        text=note.text,
        created_at=note.created_at,
    )


async def notes(
    session: AsyncSession, conversation_id: int, actor: Actor, *, reason: str | None
) -> list[NoteOut]:
    """The notes; reading those of a conversation outside the caller's lists is audited."""
    conv = await handover.open_for(session, conversation_id, actor, reason=reason, what="notes")
    return [
        NoteOut(
            id=n.id,
            author_id=n.author_id,
            author_name=n.author_name,
            text=n.text,
            created_at=n.created_at,
        )
        for n in await repository.notes(session, conv.id)
    ]


async def notes_of(session: AsyncSession, conversation_id: int) -> list[NoteOut]:
    """For the conversation detail, whose reading is already checked and audited."""
    return [
        NoteOut(
            id=n.id,
            author_id=n.author_id,
            author_name=n.author_name,
            text=n.text,
            created_at=n.created_at,
        )
        for n in await repository.notes(session, conversation_id)
    ]


# --- canned responses -----------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def fill(body: str, values: dict[str, str]) -> str:
    """Placeholders with a value are replaced; any other `{word}` stays as typed (an agent
    sees it and edits the message rather than the customer seeing an empty gap)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


async def placeholder_values(
    session: AsyncSession, settings: Settings, conv: ConversationRow, agent_id: int | None
) -> dict[str, str]:
    """{agent}: the name customers see (the display name, else "an operator"); the
    customer's fields when the conversation has an identified customer. Money as the bot says
    it."""
    locale = conv.locale or settings.default_locale
    user = await auth_repository.user_by_id(session, agent_id) if agent_id else None
    values = {
        "agent": (user.display_name if user else None)
        or catalog().text("dialogs-agent-generic-name", locale)
    }
    if conv.customer_id is not None:
        customer = await customers.get_customer(session, conv.customer_id)
        balance = await billing.balance(session, customer.id, business_today(settings))
        parts = customer.full_name.split() or [customer.full_name]
        # "Петров Пётр Иванович": the given name is the second word; "Peter Smith": the first.
        first = parts[1] if len(parts) >= 2 and _cyrillic(customer.full_name) else parts[0]
        values |= {
            "name": customer.full_name,
            "first_name": first,
            "contract": customer.contract_number,
            "balance": catalog().text("dialogs-agent-money", locale, amount=major(balance.amount)),
        }
    return values


def _cyrillic(text: str) -> bool:
    return any("а" <= ch <= "я" or ch == "ё" for ch in text.lower())


async def canned_list(
    session: AsyncSession, *, locale: str | None, include_inactive: bool
) -> list[CannedResponse]:
    return await repository.canned(session, locale=locale, include_inactive=include_inactive)


async def canned_get(session: AsyncSession, canned_id: int) -> CannedResponse:
    found = await repository.canned_by_id(session, canned_id)
    if found is None:
        raise CannedResponseNotFound()
    return found


async def canned_create(session: AsyncSession, data: CannedIn, actor: Actor) -> CannedResponse:
    now = utcnow()
    created = await repository.add_canned(
        session,
        CannedResponse(
            title=data.title,
            body=data.body,
            locale=data.locale,
            is_active=data.is_active,
            created_at=now,
            updated_at=now,
        ),
    )
    await audit.record(
        session, "canned_response.create", actor, "canned_response", created.id, title=data.title
    )
    return created


async def canned_update(
    session: AsyncSession, canned_id: int, data: CannedPatch, actor: Actor
) -> CannedResponse:
    found = await canned_get(session, canned_id)
    changes: dict[str, list[Any]] = {}
    for name in ("title", "body", "locale", "is_active"):
        if name in data.model_fields_set:
            new = getattr(data, name)
            if getattr(found, name) != new:
                changes[name] = [getattr(found, name), new]
                setattr(found, name, new)
    if changes:
        found.updated_at = utcnow()
        await session.flush()
        # the body may be long: the audit keeps that it changed, not the texts
        if "body" in changes:
            changes["body"] = ["…", "…"]
        await audit.record(
            session, "canned_response.update", actor, "canned_response", found.id, changes=changes
        )
    return found


async def canned_delete(session: AsyncSession, canned_id: int, actor: Actor) -> None:
    found = await canned_get(session, canned_id)
    title = found.title
    await repository.delete_canned(session, found)
    await audit.record(
        session, "canned_response.delete", actor, "canned_response", canned_id, title=title
    )


async def preview_canned(
    session: AsyncSession, settings: Settings, conversation_id: int, canned_id: int, actor: Actor
) -> str:
    """The text `send_canned` would send now (the holder only: it reads the customer's card)."""
    conv = await handover.held_by_holder(session, conversation_id, actor)
    canned = await canned_get(session, canned_id)
    if not canned.is_active:
        raise CannedResponseNotFound()
    return fill(canned.body, await placeholder_values(session, settings, conv, actor.user_id))


async def send_canned(
    session: AsyncSession, settings: Settings, conversation_id: int, canned_id: int, actor: Actor
) -> tuple[int, str]:
    """The holder sends a canned response, filled in, as their reply. Returns (message id,
    the text sent)."""
    text = await preview_canned(session, settings, conversation_id, canned_id, actor)
    # handover.reply checks the holder again and audits the reply; this row says it was canned
    message_id = await handover.reply(session, conversation_id, actor, text=text, document_id=None)
    await audit.record(
        session,
        "conversation.canned_sent",
        actor,
        "conversation",
        conversation_id,
        message_id=message_id,
        canned_id=canned_id,
    )
    return message_id, text


# --- conversation -> ticket -----------------------------------------------------------------

_SENDER_KEYS = {
    MessageSender.customer: "dialogs-agent-ticket-from-customer",
    MessageSender.bot: "dialogs-agent-ticket-from-bot",
    MessageSender.agent: "dialogs-agent-ticket-from-agent",
    MessageSender.system: "dialogs-agent-ticket-from-system",
}


async def ticket_from_conversation(
    session: AsyncSession,
    settings: Settings,
    conversation_id: int,
    actor: Actor,
    *,
    subject: str,
    category: TicketCategory,
) -> Ticket:
    """A ticket for the conversation's customer (the holder, or an admin), whose description is
    the recent transcript; the customer is told its number in the chat. An anonymous visitor
    has nobody to own a ticket: refused."""
    conv = await handover.held_or_admin(session, conversation_id, actor)
    if conv.customer_id is None:
        raise handover.AnonymousConversation()
    locale = conv.locale or settings.default_locale
    text = catalog().text
    lines = [text("dialogs-agent-ticket-intro", locale, id=conv.id, channel=conv.channel), ""]
    for m in await transcript.messages(session, conv.id, limit=TICKET_EXCERPT_MESSAGES):
        body = m.text or ", ".join(
            str(a.get("filename") or a.get("kind") or "")
            for a in (m.payload or {}).get("attachments") or []
            if isinstance(a, dict)
        )
        if not body:
            continue
        who = text(_SENDER_KEYS[MessageSender(m.sender)], locale)
        lines.append(f"[{m.created_at:%Y-%m-%d %H:%M}] {who}: {body}")
    description = "\n".join(lines)
    if len(description) > TICKET_DESCRIPTION_CHARS:
        # keep the newest lines: they are why the ticket is opened
        description = "…" + description[-(TICKET_DESCRIPTION_CHARS - 1) :]
    ticket = await support.create_ticket(
        session,
        customer_id=conv.customer_id,
        subject=subject,
        description=description,
        actor=actor,
        category=category,
        details={"conversation_id": conv.id, "channel": conv.channel},
    )
    notice = text("dialogs-agent-ticket-opened", locale, id=ticket.id, subject=subject)
    message_id = await handover.notify_customer(session, conv, actor, notice)
    await audit.record(
        session,
        "conversation.ticket_created",
        actor,
        "conversation",
        conv.id,
        ticket_id=ticket.id,
        message_id=message_id,
        customer_id=conv.customer_id,
    )
    return ticket


# --- customers ------------------------------------------------------------------------------


def _search_terms(q: str) -> tuple[str | None, str | None, str | None]:
    """(phone digits, normalised phone, Telegram id or username) the query may be."""
    phone_digits, phone = customers.phone_search_terms(q)
    handle = q[1:] if q.startswith("@") else q
    telegram = handle if re.fullmatch(r"[A-Za-z0-9_]{3,64}", handle) else None
    return phone_digits, phone, telegram


async def search(session: AsyncSession, q: str) -> list[CustomerHit]:
    q = q.strip()
    phone_digits, phone, telegram = _search_terms(q)
    rows = await repository.search_customers(
        session, q, phone_digits=phone_digits, phone=phone, telegram=telegram, limit=SEARCH_LIMIT
    )
    return [
        CustomerHit(
            id=c.id,
            full_name=c.full_name,
            contract_number=c.contract_number,
            phone=c.phone,
            email=c.email,
            telegram=linked,
        )
        for c, linked in rows
    ]


async def card(session: AsyncSession, settings: Settings, customer_id: int) -> CustomerCard:
    """Everything the console shows beside a chat, in one answer."""
    customer = await customers.get_customer(session, customer_id)
    today = business_today(settings)
    balance = await billing.balance(session, customer.id, today)
    sub = await billing.subscription(session, customer.id)
    promised = await billing_repository.active_promised_payment(session, customer.id)
    pauses = await suspensions.list_for_customer(session, settings, customer.id, today)
    freeze = next(
        (
            s
            for s in sorted(pauses.items, key=lambda s: s.start_on)
            if s.status in (SuspensionStatus.active, SuspensionStatus.scheduled)
        ),
        None,
    )
    tickets, _ = await support.customer_tickets(
        session,
        customer.id,
        CustomerTicketFilter(status=[TicketStatus.open, TicketStatus.in_progress], limit=10),
    )
    recent = await payments.payment_page(session, customer.id, limit=5)
    docs, _ = await documents.list_documents(session, customer.id, DocumentFilter(limit=10))
    identities = await repository.channel_identities(session, customer.id)
    convs = await repository.conversations_of(session, customer.id)
    deliveries = await repository.deliveries_of(session, customer.id)
    return CustomerCard(
        id=customer.id,
        full_name=customer.full_name,
        contract_number=customer.contract_number,
        phone=customer.phone,
        email=customer.email,
        locale=customer.locale,
        status=sub.status.value if sub else None,
        balance=balance.amount,
        currency=balance.currency,
        days_left=balance.days_left,
        tariff=TariffCard(
            name=sub.tariff_name,
            price=sub.price,
            currency=sub.currency,
            speed_down_mbps=sub.speed_down_mbps,
            speed_up_mbps=sub.speed_up_mbps,
            billing_period=sub.billing_period.value,
        )
        if sub
        else None,
        promised_payment=PromisedCard(
            id=promised.id, amount=promised.amount, fee=promised.fee, expires_at=promised.expires_at
        )
        if promised
        else None,
        freeze=FreezeCard(
            id=freeze.id, start_on=freeze.start_on, end_on=freeze.end_on, status=freeze.status.value
        )
        if freeze
        else None,
        open_tickets=[
            TicketCard(
                id=t.id,
                subject=t.subject,
                status=t.status.value,
                priority=t.priority.value,
                created_at=t.created_at,
            )
            for t in tickets
        ],
        recent_payments=[
            PaymentCard(
                id=p.id,
                status=p.status.value,
                amount=p.amount,
                currency=p.currency,
                created_at=p.created_at,
            )
            for p in recent.items
        ],
        documents=[
            DocumentCard(
                id=d.id, kind=d.kind.value, title=d.title, period=d.period, created_at=d.created_at
            )
            for d in docs
        ],
        channels=[
            ChannelCard(
                channel=i.channel.value,
                external_id=i.external_id if i.channel is Channel.telegram else None,
                is_reachable=i.is_reachable,
                last_seen_at=i.last_seen_at,
            )
            for i in identities
        ],
        conversations=[
            ConversationCard(
                id=c.id,
                channel=c.channel.value,
                state=ConversationState(c.state).value,
                agent_id=c.agent_id,
            )
            for c in convs
        ],
        notifications=[
            DeliveryCard(
                kind=d.kind,
                channel=d.channel,
                status=d.status,
                error=d.error,
                created_at=d.created_at,
                sent_at=d.sent_at,
            )
            for d in deliveries
        ],
    )
