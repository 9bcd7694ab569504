from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import dialect_insert
from backend.models import (
    Account,
    Channel,
    ChannelIdentity,
    Customer,
    Invoice,
    InvoiceStatus,
    Ticket,
    TicketStatus,
)


async def contract_number_taken(session: AsyncSession, number: str) -> bool:
    found = await session.scalar(select(Customer.id).where(Customer.contract_number == number))
    return found is not None


async def customer_by_id(session: AsyncSession, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def customer_by_user(session: AsyncSession, user_id: int) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.user_id == user_id))


async def account_for_customer(session: AsyncSession, customer_id: int) -> Account | None:
    return await session.scalar(select(Account).where(Account.customer_id == customer_id))


# --- staff search ---------------------------------------------------------------------------


def like_escape(text: str) -> str:
    """A LIKE pattern's literal text (with ESCAPE '\\'): %, _ and \\ match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_condition(q: str, phone_digits: str | None, phone: str | None) -> ColumnElement[bool]:
    pattern = f"%{like_escape(q)}%"
    conditions: list[ColumnElement[bool]] = [
        Customer.contract_number.ilike(pattern, escape="\\"),
        Customer.full_name.ilike(pattern, escape="\\"),
        Customer.email.ilike(pattern, escape="\\"),
        Customer.phone.ilike(pattern, escape="\\"),
    ]
    if phone_digits:
        conditions.append(Customer.phone.contains(phone_digits, autoescape=True))
    if phone:
        conditions.append(Customer.phone == phone)
    return or_(*conditions)


async def search_customers(
    session: AsyncSession,
    q: str | None,
    *,
    phone_digits: str | None,
    phone: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Customer, int, str]], int]:
    """Customers with their balance, newest first, and the total number of matches."""
    query = select(Customer, Account.balance, Account.currency).join(
        Account, Account.customer_id == Customer.id
    )
    count = select(func.count(Customer.id))
    if q:
        condition = _search_condition(q, phone_digits, phone)
        query = query.where(condition)
        count = count.where(condition)
    rows = await session.execute(query.order_by(Customer.id.desc()).limit(limit).offset(offset))
    total = await session.scalar(count)
    return [(c, int(b), str(cur)) for c, b, cur in rows.all()], int(total or 0)


async def open_counts(session: AsyncSession, customer_id: int) -> tuple[int, int]:
    """(open tickets, pending invoices) in one round trip."""
    tickets = (
        select(func.count(Ticket.id))
        .where(
            Ticket.customer_id == customer_id,
            Ticket.status.in_((TicketStatus.open, TicketStatus.in_progress)),
        )
        .scalar_subquery()
    )
    invoices = (
        select(func.count(Invoice.id))
        .where(Invoice.customer_id == customer_id, Invoice.status == InvoiceStatus.pending)
        .scalar_subquery()
    )
    row = (await session.execute(select(tickets, invoices))).one()
    return int(row[0]), int(row[1])


# --- push devices ---------------------------------------------------------------------------


async def device_owner(session: AsyncSession, token: str) -> int | None:
    return await session.scalar(
        select(ChannelIdentity.customer_id).where(
            ChannelIdentity.channel == Channel.fcm, ChannelIdentity.external_id == token
        )
    )


async def upsert_device(
    session: AsyncSession,
    *,
    customer_id: int,
    token: str,
    details: dict[str, Any],
    now: datetime,
) -> int:
    """Insert or take over the token in one statement, so two registrations of one token
    racing each other cannot hit the unique constraint. Returns the row id."""
    dialect = session.get_bind().dialect.name
    insert = dialect_insert(dialect)
    stmt = insert(ChannelIdentity).values(
        customer_id=customer_id,
        channel=Channel.fcm,
        external_id=token,
        is_reachable=True,
        unreachable_reason=None,
        details=details,
        last_seen_at=now,
        created_at=now,
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=["channel", "external_id"],
        set_={
            "customer_id": stmt.excluded.customer_id,
            "is_reachable": True,
            "unreachable_reason": None,
            "details": stmt.excluded.details,
            "last_seen_at": stmt.excluded.last_seen_at,
        },
    ).returning(ChannelIdentity.id)
    return int((await session.execute(upsert)).scalar_one())


async def device_by_id(session: AsyncSession, identity_id: int) -> ChannelIdentity | None:
    # populate_existing: the row was just written with a Core statement behind the ORM's back.
    return await session.get(ChannelIdentity, identity_id, populate_existing=True)


async def devices_of(session: AsyncSession, customer_id: int) -> list[ChannelIdentity]:
    return list(
        (
            await session.scalars(
                select(ChannelIdentity)
                .where(
                    ChannelIdentity.customer_id == customer_id,
                    ChannelIdentity.channel == Channel.fcm,
                )
                .order_by(ChannelIdentity.id.desc())
            )
        ).all()
    )


async def delete_device(session: AsyncSession, customer_id: int, token: str) -> int | None:
    """Deletes the customer's own token; returns the row id, or None when it is not theirs."""
    result = await session.execute(
        delete(ChannelIdentity)
        .where(
            ChannelIdentity.customer_id == customer_id,
            ChannelIdentity.channel == Channel.fcm,
            ChannelIdentity.external_id == token,
        )
        .returning(ChannelIdentity.id)
    )
    found = result.scalar_one_or_none()
    return None if found is None else int(found)


async def prune_devices(session: AsyncSession, customer_id: int, keep: int) -> int:
    """Drop all but the `keep` most recently seen devices of the customer."""
    newest = (
        select(ChannelIdentity.id)
        .where(ChannelIdentity.customer_id == customer_id, ChannelIdentity.channel == Channel.fcm)
        .order_by(ChannelIdentity.last_seen_at.desc().nulls_last(), ChannelIdentity.id.desc())
        .limit(keep)
    )
    result = await session.execute(
        delete(ChannelIdentity)
        .where(
            ChannelIdentity.customer_id == customer_id,
            ChannelIdentity.channel == Channel.fcm,
            ChannelIdentity.id.not_in(newest),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
