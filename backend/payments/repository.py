from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Account, Customer, Invoice, Payment


async def add(session: AsyncSession, payment: Payment) -> Payment:
    session.add(payment)
    await session.flush()
    return payment


async def by_public_id(
    session: AsyncSession, public_id: str, *, customer_id: int | None = None
) -> Payment | None:
    query = select(Payment).where(Payment.public_id == public_id)
    if customer_id is not None:
        query = query.where(Payment.customer_id == customer_id)
    return await session.scalar(query)


async def by_provider_id(
    session: AsyncSession, provider: str, provider_payment_id: str
) -> Payment | None:
    return await session.scalar(
        select(Payment)
        .where(Payment.provider == provider, Payment.provider_payment_id == provider_payment_id)
        .execution_options(populate_existing=True)
    )


async def lock(session: AsyncSession, payment_id: int) -> Payment | None:
    """The payment under a row lock, re-read: whoever waited for the lock sees the winner's
    changes, not the copy it loaded before (SQLite serialises writers instead)."""
    return await session.scalar(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_by_public_id(session: AsyncSession, public_id: str) -> Payment | None:
    return await session.scalar(
        select(Payment)
        .where(Payment.public_id == public_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_by_provider_id(
    session: AsyncSession, provider: str, provider_payment_id: str
) -> Payment | None:
    return await session.scalar(
        select(Payment)
        .where(Payment.provider == provider, Payment.provider_payment_id == provider_payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def for_customer(
    session: AsyncSession, customer_id: int, limit: int, before_id: int | None = None
) -> list[Payment]:
    query = select(Payment).where(Payment.customer_id == customer_id)
    if before_id is not None:
        query = query.where(Payment.id < before_id)
    return list(await session.scalars(query.order_by(Payment.id.desc()).limit(limit)))


async def customer(session: AsyncSession, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def account_currency(session: AsyncSession, customer_id: int) -> str | None:
    return await session.scalar(select(Account.currency).where(Account.customer_id == customer_id))


async def invoice_of(session: AsyncSession, customer_id: int, invoice_id: int) -> Invoice | None:
    return await session.scalar(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.customer_id == customer_id)
    )
