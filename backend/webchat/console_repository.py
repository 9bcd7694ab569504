"""Every statement of the agent console's own tables (notes, canned responses) and of its
read-only views over the core's (staff, customer search, a customer's channels)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import utcnow
from backend.customers.repository import like_escape
from backend.models import (
    CannedResponse,
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationNote,
    Customer,
    NotificationDelivery,
    Role,
    User,
)

# --- notes ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteRow:
    id: int
    author_id: int | None
    author_name: str | None
    text: str
    created_at: datetime


async def add_note(
    session: AsyncSession, conversation_id: int, author_id: int | None, text: str
) -> ConversationNote:
    note = ConversationNote(
        conversation_id=conversation_id, author_id=author_id, text=text, created_at=utcnow()
    )
    session.add(note)
    await session.flush()
    return note


async def notes(session: AsyncSession, conversation_id: int, *, limit: int = 500) -> list[NoteRow]:
    """Oldest first, with the author's display name (else e-mail)."""
    rows = await session.execute(
        select(
            ConversationNote.id,
            ConversationNote.author_id,
            func.coalesce(User.display_name, User.email).label("author_name"),
            ConversationNote.text,
            ConversationNote.created_at,
        )
        .outerjoin(User, User.id == ConversationNote.author_id)
        .where(ConversationNote.conversation_id == conversation_id)
        .order_by(ConversationNote.id)
        .limit(limit)
    )
    return [NoteRow(r.id, r.author_id, r.author_name, r.text, r.created_at) for r in rows.all()]


# --- canned responses -----------------------------------------------------------------------


async def canned(
    session: AsyncSession, *, locale: str | None, include_inactive: bool
) -> list[CannedResponse]:
    """With `locale`, those of that language and those for every language."""
    query = select(CannedResponse).order_by(CannedResponse.title, CannedResponse.id)
    if not include_inactive:
        query = query.where(CannedResponse.is_active.is_(True))
    if locale is not None:
        query = query.where(or_(CannedResponse.locale == locale, CannedResponse.locale.is_(None)))
    return list((await session.scalars(query)).all())


async def canned_by_id(session: AsyncSession, canned_id: int) -> CannedResponse | None:
    return await session.get(CannedResponse, canned_id)


async def add_canned(session: AsyncSession, canned_response: CannedResponse) -> CannedResponse:
    session.add(canned_response)
    await session.flush()
    return canned_response


async def delete_canned(session: AsyncSession, canned_response: CannedResponse) -> None:
    await session.delete(canned_response)
    await session.flush()


# --- staff ----------------------------------------------------------------------------------


async def staff(session: AsyncSession) -> list[User]:
    """Active agents and admins, by name."""
    rows = await session.scalars(
        select(User)
        .where(User.role.in_((Role.agent, Role.admin)), User.is_active.is_(True))
        .order_by(func.coalesce(User.display_name, User.email), User.id)
    )
    return list(rows.all())


async def user_names(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, str | None]:
    if not user_ids:
        return {}
    rows = await session.execute(
        select(User.id, func.coalesce(User.display_name, User.email)).where(User.id.in_(user_ids))
    )
    return {int(r[0]): r[1] for r in rows.all()}


# --- customers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerName:
    full_name: str
    contract_number: str


async def customer_names(
    session: AsyncSession, customer_ids: Sequence[int]
) -> dict[int, CustomerName]:
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.full_name, Customer.contract_number).where(
            Customer.id.in_(customer_ids)
        )
    )
    return {r.id: CustomerName(r.full_name, r.contract_number) for r in rows.all()}


async def search_customers(
    session: AsyncSession,
    q: str,
    *,
    phone_digits: str | None,
    phone: str | None,
    telegram: str | None,
    limit: int,
) -> list[tuple[Customer, bool]]:
    """Customers by contract (prefix), name, e-mail (substring), phone (digits), or a linked
    Telegram account (its numeric id, or the username when the identity records one), each
    case-insensitively; with whether a Telegram account is linked. Contract matches first."""
    conditions: list[ColumnElement[bool]] = [
        Customer.contract_number.ilike(f"{like_escape(q)}%", escape="\\"),
        Customer.full_name.ilike(f"%{like_escape(q)}%", escape="\\"),
        Customer.email.ilike(f"%{like_escape(q)}%", escape="\\"),
    ]
    if phone_digits:
        conditions.append(Customer.phone.contains(phone_digits, autoescape=True))
    if phone:
        conditions.append(Customer.phone == phone)
    if telegram:
        tg = ChannelIdentity
        matches = [func.lower(tg.details["username"].as_string()) == telegram.lower()]
        if telegram.isdigit():
            matches.append(tg.external_id == telegram)
        conditions.append(
            Customer.id.in_(
                select(tg.customer_id).where(tg.channel == Channel.telegram, or_(*matches))
            )
        )
    linked = (
        select(func.count(ChannelIdentity.id))
        .where(
            ChannelIdentity.customer_id == Customer.id,
            ChannelIdentity.channel == Channel.telegram,
        )
        .scalar_subquery()
    )
    contract_first = Customer.contract_number.ilike(f"{like_escape(q)}%", escape="\\")
    rows = await session.execute(
        select(Customer, linked)
        .where(or_(*conditions))
        .order_by(contract_first.desc(), Customer.contract_number, Customer.id)
        .limit(limit)
    )
    return [(c, bool(n)) for c, n in rows.all()]


async def channel_identities(session: AsyncSession, customer_id: int) -> list[ChannelIdentity]:
    rows = await session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.customer_id == customer_id)
        .order_by(ChannelIdentity.channel, ChannelIdentity.id)
    )
    return list(rows.all())


async def deliveries_of(
    session: AsyncSession, customer_id: int, *, limit: int = 20
) -> list[NotificationDelivery]:
    rows = await session.scalars(
        select(NotificationDelivery)
        .where(NotificationDelivery.customer_id == customer_id)
        .order_by(NotificationDelivery.id.desc())
        .limit(limit)
    )
    return list(rows.all())


async def conversations_of(
    session: AsyncSession, customer_id: int, *, limit: int = 20
) -> list[Conversation]:
    rows = await session.scalars(
        select(Conversation)
        .where(Conversation.customer_id == customer_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return list(rows.all())
