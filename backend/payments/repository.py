from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Account, Customer, Invoice, Payment, PaymentStatus
from backend.models.payment import PaymentRefund


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


async def refund_by_provider_id(
    session: AsyncSession, provider: str, provider_refund_id: str
) -> PaymentRefund | None:
    return await session.scalar(
        select(PaymentRefund).where(
            PaymentRefund.provider == provider,
            PaymentRefund.provider_refund_id == provider_refund_id,
        )
    )


async def add_refund(session: AsyncSession, refund: PaymentRefund) -> PaymentRefund:
    session.add(refund)
    await session.flush()
    return refund


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    provider: str
    provider_payment_id: str | None
    created_at: datetime


async def claim_pending(
    session: AsyncSession, *, now: datetime, not_after: datetime, limit: int
) -> list[Claimed]:
    """Pending payments created and last checked no later than `not_after`, marked checked
    at `now`. SKIP LOCKED: a second worker claims other rows, never waits for these ones
    (SQLite has no row locks and serialises writers instead)."""
    rows = (
        await session.execute(
            select(Payment.id, Payment.provider, Payment.provider_payment_id, Payment.created_at)
            .where(
                Payment.status == PaymentStatus.pending,
                Payment.created_at <= not_after,
                or_(Payment.checked_at.is_(None), Payment.checked_at <= not_after),
            )
            .order_by(Payment.created_at, Payment.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not rows:
        return []
    await session.execute(
        update(Payment)
        .where(Payment.id.in_([row.id for row in rows]))
        .values(checked_at=now)
        .execution_options(synchronize_session=False)
    )
    return [Claimed(row.id, row.provider, row.provider_payment_id, row.created_at) for row in rows]
