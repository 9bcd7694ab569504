"""Every statement on `conversations` and `conversation_messages`: the repository of the
conversation domain (the engine and the agent API both go through it; flows never do).

The engine's hot path is two statements on PostgreSQL: `upsert_with_inbound` (get-or-create
the conversation, returning its state and the durable flow state, and store the inbound message
- the redelivery check - as one statement with the upsert as a data-modifying CTE) and
`add_outbound` (one multi-row INSERT of the replies, with the flow-state UPDATE in the same
statement as a data-modifying CTE). SQLite takes one more for each."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from backend.clock import utcnow
from backend.db import dialect_insert
from backend.models import (
    Conversation,
    ConversationMessage,
    ConversationState,
    MessageDirection,
    MessageSender,
)
from dialogs.state import Revision
from dialogs.types import Outbound, outbound_from_dict, text_of, to_dict

# A transcript row keeps this much of a message; longer inbound text is refused politely anyway.
MAX_STORED_TEXT = 4096


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: int
    channel: str
    chat_id: str
    state: ConversationState
    customer_id: int | None
    agent_id: int | None
    locale: str | None
    flow: dict[str, Any]
    updated_at: datetime


_COLUMNS = (
    Conversation.id,
    Conversation.channel,
    Conversation.chat_id,
    Conversation.state,
    Conversation.customer_id,
    Conversation.agent_id,
    Conversation.locale,
    Conversation.flow,
    Conversation.updated_at,
)


_HELD = (ConversationState.waiting_agent.value, ConversationState.agent.value)


def _row(r: Any) -> ConversationRow:
    return ConversationRow(
        id=r.id,
        channel=str(r.channel),
        chat_id=r.chat_id,
        state=ConversationState(r.state),
        customer_id=r.customer_id,
        agent_id=r.agent_id,
        locale=r.locale,
        flow=dict(r.flow or {}),
        updated_at=r.updated_at,
    )


def _insert(session: AsyncSession) -> Any:
    return dialect_insert(session)


def _is_pg(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@functools.cache
def _upsert_statement(dialect: str) -> Any:
    """Built once per dialect with bound parameters: building the ON CONFLICT statement (its
    `excluded` alias, the CASE expressions) cost more than executing it from the cache."""
    table = cast(Table, Conversation.__table__)
    c = table.c
    now = bindparam("now", type_=c.updated_at.type)
    insert = dialect_insert(dialect)
    stmt = insert(table).values(
        channel=bindparam("channel", type_=c.channel.type),
        chat_id=bindparam("chat_id", type_=c.chat_id.type),
        customer_id=bindparam("customer_id", type_=c.customer_id.type),
        locale=bindparam("locale", type_=c.locale.type),
        state=ConversationState.bot,
        flow={},
        created_at=now,
        updated_at=now,
    )
    closed = c.state == ConversationState.closed
    # The adapter vouches for the customer on every turn (a Telegram chat: the identity linked
    # now); None is an anonymous turn, never "the customer from before" (docs/security.md,
    # "Conversations and linked accounts").
    other_customer = c.customer_id.is_distinct_from(stmt.excluded.customer_id)
    return stmt.on_conflict_do_update(
        index_elements=[c.channel, c.chat_id],
        set_={
            "customer_id": stmt.excluded.customer_id,
            # the conversation's own choice (settings flow) wins; the adapter's only seeds it -
            # unless the choice was another customer's
            "locale": case(
                (other_customer, stmt.excluded.locale),
                else_=func.coalesce(c.locale, stmt.excluded.locale),
            ),
            "state": case((closed, ConversationState.bot.value), else_=c.state),
            "agent_id": case((closed, None), else_=c.agent_id),
            # While queued or held, updated_at keeps the moment the state changed: the agents'
            # queue is ordered by it ("oldest waiting first").
            "updated_at": case((c.state.in_(_HELD), c.updated_at), else_=now),
        },
    ).returning(*(table.c[col.key] for col in _COLUMNS))


async def upsert_conversation(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: str,
    customer_id: int | None,
    locale: str | None,
) -> ConversationRow:
    """Get or create the conversation of a chat in one statement. A closed conversation
    reopens with the bot; the adapter's customer (None: anonymous) replaces the stored one,
    while the adapter's locale only seeds a new conversation (a language chosen in settings
    stays while the customer does)."""
    params = {"channel": channel, "chat_id": chat_id, "customer_id": customer_id,
              "locale": locale, "now": utcnow()}  # fmt: skip
    stmt = _upsert_statement(session.get_bind().dialect.name)
    return _row((await session.execute(stmt, params)).one())


@functools.cache
def _upsert_with_inbound_statement() -> Any:
    """PostgreSQL: the conversation upsert and the inbound message in one statement (the
    upsert as a data-modifying CTE, the message inserted from it)."""
    conv = _upsert_statement("postgresql").cte("conv")
    messages = cast(Table, ConversationMessage.__table__)
    m = messages.c
    columns = ["conversation_id", "direction", "sender", "external_id", "text", "payload",
               "created_at"]  # fmt: skip
    source = select(
        conv.c.id,
        bindparam("direction", MessageDirection.inbound, type_=m.direction.type),
        bindparam("sender", MessageSender.customer, type_=m.sender.type),
        bindparam("external_id", type_=m.external_id.type),
        bindparam("text", type_=m.text.type),
        bindparam("payload", type_=m.payload.type),
        bindparam("now", type_=m.created_at.type),
    )
    message = (
        postgresql.insert(messages)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=[m.conversation_id, m.external_id])
        .returning(m.id)
        .cte("message")
    )
    return select(*conv.c, select(message.c.id).scalar_subquery().label("message_id"))


async def upsert_with_inbound(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: str,
    customer_id: int | None,
    locale: str | None,
    external_id: str | None,
    text: str | None,
    payload: dict[str, Any],
) -> tuple[ConversationRow, int | None]:
    """`upsert_conversation` then `add_inbound`: one round trip on PostgreSQL."""
    if not _is_pg(session):
        conv = await upsert_conversation(
            session, channel=channel, chat_id=chat_id, customer_id=customer_id, locale=locale
        )
        message_id = await add_inbound(
            session, conv.id, external_id=external_id, text=text, payload=payload
        )
        return conv, message_id
    params = {"channel": channel, "chat_id": chat_id, "customer_id": customer_id,
              "locale": locale, "now": utcnow(), "external_id": external_id,
              "text": None if text is None else text[:MAX_STORED_TEXT],
              "payload": payload}  # fmt: skip
    row = (await session.execute(_upsert_with_inbound_statement(), params)).one()
    return _row(row), row.message_id


async def add_inbound(
    session: AsyncSession,
    conversation_id: int,
    *,
    external_id: str | None,
    text: str | None,
    payload: dict[str, Any],
) -> int | None:
    """Store the customer's message; None when this external id was stored before."""
    stmt = (
        _insert(session)(ConversationMessage)
        .values(
            conversation_id=conversation_id,
            direction=MessageDirection.inbound,
            sender=MessageSender.customer,
            external_id=external_id,
            text=None if text is None else text[:MAX_STORED_TEXT],
            payload=payload,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(
            index_elements=[ConversationMessage.conversation_id, ConversationMessage.external_id]
        )
        .returning(ConversationMessage.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_outbound(
    session: AsyncSession,
    conversation_id: int,
    items: list[Outbound],
    *,
    sender: MessageSender = MessageSender.bot,
    reply_to: str | None = None,
    agent_id: int | None = None,
    flow: Revision | None = None,
) -> list[int]:
    """Store outbound items (one row each, in order) and, when `flow` is given, the durable
    flow state: one statement on PostgreSQL, two elsewhere."""
    if not items:
        if flow is not None:
            await save_flow(session, conversation_id, flow)
        return []
    now = utcnow()
    rows = [
        {
            "conversation_id": conversation_id,
            "direction": MessageDirection.outbound,
            "sender": sender,
            "agent_id": agent_id,
            "external_id": None,
            "text": (text_of(item) or "")[:MAX_STORED_TEXT] or None,
            "payload": {"item": to_dict(item), "reply_to": reply_to},
            "created_at": now,
        }
        for item in items
    ]
    stmt = _insert(session)(ConversationMessage).values(rows).returning(ConversationMessage.id)
    if flow is not None:
        if _is_pg(session):
            flow_update = (
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(flow=flow.data)
                .returning(Conversation.id)
                .cte("flow_update")
            )
            stmt = stmt.add_cte(flow_update)
        else:
            await save_flow(session, conversation_id, flow)
    return list((await session.execute(stmt)).scalars())


async def save_flow(session: AsyncSession, conversation_id: int, flow: Revision) -> None:
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(flow=flow.data)
    )


async def stored_replies(
    session: AsyncSession, conversation_id: int, external_id: str
) -> list[Outbound]:
    rows = await session.scalars(
        select(ConversationMessage.payload)
        .where(
            ConversationMessage.conversation_id == conversation_id,
            ConversationMessage.direction == MessageDirection.outbound,
            ConversationMessage.payload["reply_to"].as_string() == external_id,
        )
        .order_by(ConversationMessage.id)
    )
    return [outbound_from_dict(p["item"]) for p in rows if isinstance(p.get("item"), dict)]


async def set_state(
    session: AsyncSession,
    conversation_id: int,
    state: ConversationState,
    *,
    agent_id: int | None = None,
    flow: Revision | None = None,
) -> None:
    values: dict[str, Any] = {"state": state, "agent_id": agent_id, "updated_at": utcnow()}
    if flow is not None:
        values["flow"] = flow.data
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(**values)
    )


# --- the agent side -------------------------------------------------------------------------


async def get(session: AsyncSession, conversation_id: int) -> ConversationRow | None:
    row = (
        await session.execute(select(*_COLUMNS).where(Conversation.id == conversation_id))
    ).one_or_none()
    return None if row is None else _row(row)


async def queue(
    session: AsyncSession, state: ConversationState, *, limit: int, agent_id: int | None = None
) -> list[ConversationRow]:
    """Oldest first: `updated_at` of a waiting conversation is when it started waiting (later
    customer messages are stored without touching it)."""
    query = select(*_COLUMNS).where(Conversation.state == state)
    if agent_id is not None:
        query = query.where(Conversation.agent_id == agent_id)
    query = query.order_by(Conversation.updated_at, Conversation.id).limit(limit)
    return [_row(r) for r in (await session.execute(query)).all()]


async def claim(session: AsyncSession, conversation_id: int, agent_id: int) -> bool:
    """Atomic: of two agents claiming at once, exactly one UPDATE matches the row."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.state == ConversationState.waiting_agent,
        )
        .values(state=ConversationState.agent, agent_id=agent_id, updated_at=utcnow())
        .returning(Conversation.id)
    )
    return result.scalar_one_or_none() is not None


async def messages(
    session: AsyncSession, conversation_id: int, *, limit: int
) -> list[ConversationMessage]:
    """The newest `limit` messages, oldest first."""
    rows = list(
        await session.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id == conversation_id)
            .order_by(ConversationMessage.id.desc())
            .limit(limit)
        )
    )
    rows.reverse()
    return rows


async def message_in(
    session: AsyncSession, conversation_id: int, message_id: int
) -> ConversationMessage | None:
    """One message of the conversation (None when it belongs to another)."""
    return await session.scalar(
        select(ConversationMessage).where(
            ConversationMessage.id == message_id,
            ConversationMessage.conversation_id == conversation_id,
        )
    )


async def touch(session: AsyncSession, conversation_id: int) -> None:
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(updated_at=utcnow())
    )


async def lock_for_cut(
    session: AsyncSession,
    *,
    channel: str | None = None,
    chat_ids: Sequence[str] = (),
    customer_id: int | None = None,
) -> list[ConversationRow]:
    """The conversations of these chats of `channel` and/or of `customer_id` (any channel),
    locked (PostgreSQL) so that a turn running at the same moment commits before or after the
    cut, never across it."""
    conditions: list[ColumnElement[bool]] = []
    if channel is not None and chat_ids:
        conditions.append((Conversation.channel == channel) & Conversation.chat_id.in_(chat_ids))
    if customer_id is not None:
        customer = Conversation.customer_id == customer_id
        conditions.append(
            customer if channel is None else customer & (Conversation.channel == channel)
        )
    if not conditions:
        return []
    query = select(*_COLUMNS).where(or_(*conditions)).order_by(Conversation.id)
    if _is_pg(session):
        query = query.with_for_update()
    return [_row(r) for r in (await session.execute(query)).all()]


async def set_customer(
    session: AsyncSession,
    conversation_id: int,
    customer_id: int | None,
    *,
    flow: Revision | None,
) -> None:
    """Another customer (or none) for the conversation. With `flow`, the flow state and the
    conversation's language are the previous customer's and start afresh. The state and its
    `updated_at` (the agents' queue order) stay."""
    values: dict[str, Any] = {"customer_id": customer_id, "updated_at": Conversation.updated_at}
    if flow is not None:
        values |= {"flow": flow.data, "locale": None}
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(**values)
    )


async def set_agent(
    session: AsyncSession,
    conversation_id: int,
    *,
    state: ConversationState,
    agent_id: int | None,
    to_agent_id: int,
) -> bool:
    """Hand a queued or held conversation to another agent, if it is still as it was read
    (state and holder): of two concurrent changes one wins."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.state == state,
            Conversation.agent_id.is_(None)
            if agent_id is None
            else Conversation.agent_id == agent_id,
        )
        .values(state=ConversationState.agent, agent_id=to_agent_id, updated_at=utcnow())
        .returning(Conversation.id)
    )
    return result.scalar_one_or_none() is not None


async def set_locale(session: AsyncSession, conversation_id: int, locale: str) -> None:
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(locale=locale)
    )


# --- the agent console's read side ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LastMessage:
    sender: MessageSender
    text: str
    created_at: datetime


async def last_messages(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, LastMessage]:
    """The newest message with text of each conversation (every transcript row is one the
    customer saw or wrote; the agents' notes live elsewhere)."""
    if not conversation_ids:
        return {}
    m = ConversationMessage
    newest = (
        select(func.max(m.id))
        .where(m.conversation_id.in_(conversation_ids), m.text.is_not(None))
        .group_by(m.conversation_id)
    )
    rows = await session.execute(
        select(m.conversation_id, m.sender, m.text, m.created_at).where(m.id.in_(newest))
    )
    return {
        r.conversation_id: LastMessage(MessageSender(r.sender), r.text or "", r.created_at)
        for r in rows.all()
    }


async def awaiting_reply(session: AsyncSession, conversation_ids: Sequence[int]) -> set[int]:
    """Those where the customer wrote after the last agent's message: the customer waits for
    a person's answer (the bot's "an operator will answer soon" and the hand-over notices
    answer nothing)."""
    if not conversation_ids:
        return set()
    m = ConversationMessage
    newest = (
        select(func.max(m.id))
        .where(
            m.conversation_id.in_(conversation_ids),
            m.sender.in_((MessageSender.customer, MessageSender.agent)),
        )
        .group_by(m.conversation_id)
    )
    rows = await session.scalars(
        select(m.conversation_id).where(m.id.in_(newest), m.sender == MessageSender.customer)
    )
    return set(rows.all())


async def requeue(session: AsyncSession, conversation_id: int, agent_id: int) -> bool:
    """Back to the queue, if the agent still holds it (of two concurrent changes one wins).
    `updated_at` restarts the waiting time: the queue orders by it."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.state == ConversationState.agent,
            Conversation.agent_id == agent_id,
        )
        .values(state=ConversationState.waiting_agent, agent_id=None, updated_at=utcnow())
        .returning(Conversation.id)
    )
    return result.scalar_one_or_none() is not None


async def ensure_conversation(
    session: AsyncSession, *, channel: str, chat_id: str, locale: str | None
) -> int:
    """The chat's conversation, created (with the bot, anonymous) when it does not exist yet;
    an existing one is left as it is (unlike `upsert_conversation`, this never changes whom it
    speaks for). The web chat creates one before a first message: for a consent, an upload."""
    now = utcnow()
    await session.execute(
        _insert(session)(Conversation)
        .values(
            channel=channel,
            chat_id=chat_id,
            state=ConversationState.bot,
            flow={},
            locale=locale,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["channel", "chat_id"])
    )
    found = await session.scalar(
        select(Conversation.id).where(
            Conversation.channel == channel, Conversation.chat_id == chat_id
        )
    )
    assert found is not None
    return int(found)


async def record_consent(session: AsyncSession, conversation_id: int, at: datetime) -> bool:
    """Store the moment the visitor consented to the processing of personal data, once; whether
    this call stored it (False: consented before)."""
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.consented_at.is_(None))
        # the queue orders by updated_at: a consent is not a change of state
        .values(consented_at=at, updated_at=Conversation.updated_at)
    )
    return bool(getattr(result, "rowcount", 0))
