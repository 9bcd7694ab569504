from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import (
    Account,
    Customer,
    Document,
    DocumentKind,
    Invoice,
    InvoiceStatus,
    Subscription,
    SubscriptionStatus,
    Tariff,
    Transaction,
)


async def lock_name(session: AsyncSession, *parts: object) -> None:
    """A transaction-scoped lock on a name, so two identical requests at once do not both
    store a document (or an invoice). SQLite serialises writers anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


# --- documents ------------------------------------------------------------------------------


async def next_version(
    session: AsyncSession, customer_id: int, kind: DocumentKind, period: str
) -> int:
    latest = await session.scalar(
        select(func.max(Document.version)).where(
            Document.customer_id == customer_id,
            Document.kind == kind,
            Document.period == period,
        )
    )
    return int(latest or 0) + 1


async def latest_document(
    session: AsyncSession, customer_id: int, kind: DocumentKind, period: str
) -> Document | None:
    return await session.scalar(
        select(Document)
        .where(
            Document.customer_id == customer_id,
            Document.kind == kind,
            Document.period == period,
        )
        .order_by(Document.version.desc())
        .limit(1)
    )


async def document_exists(
    session: AsyncSession, customer_id: int, kind: DocumentKind, period: str
) -> bool:
    found = await session.scalar(
        select(Document.id)
        .where(
            Document.customer_id == customer_id,
            Document.kind == kind,
            Document.period == period,
        )
        .limit(1)
    )
    return found is not None


async def document_by_id(session: AsyncSession, document_id: int) -> Document | None:
    return await session.get(Document, document_id)


async def customer_exists(session: AsyncSession, customer_id: int) -> bool:
    found = await session.scalar(select(Customer.id).where(Customer.id == customer_id))
    return found is not None


async def customer_documents(
    session: AsyncSession,
    customer_id: int,
    *,
    kinds: Sequence[DocumentKind],
    period: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Document], int]:
    query = select(Document).where(Document.customer_id == customer_id)
    if kinds:
        query = query.where(Document.kind.in_(kinds))
    if period is not None:
        query = query.where(Document.period == period)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Document.created_at.desc(), Document.id.desc()).limit(limit).offset(offset)
    )
    return list(rows.all()), int(total or 0)


# --- what the documents show ----------------------------------------------------------------


async def account_currency(session: AsyncSession, customer_id: int) -> str | None:
    return await session.scalar(select(Account.currency).where(Account.customer_id == customer_id))


async def billable_subscriptions(
    session: AsyncSession, customer_id: int, last: date
) -> list[tuple[Subscription, Tariff]]:
    """Subscriptions that are billed (active or blocked, not ended) and have started by `last`,
    oldest first."""
    rows = await session.execute(
        select(Subscription, Tariff)
        .join(Tariff, Tariff.id == Subscription.tariff_id)
        .where(
            Subscription.customer_id == customer_id,
            Subscription.status.in_([SubscriptionStatus.active, SubscriptionStatus.blocked]),
            Subscription.ended_on.is_(None),
            Subscription.started_on <= last,
        )
        .order_by(Subscription.id)
    )
    return [(row[0], row[1]) for row in rows.all()]


async def transactions_between(
    session: AsyncSession, customer_id: int, since: datetime, until: datetime
) -> list[Transaction]:
    """The customer's ledger rows posted in [since, until), in posting order."""
    rows = await session.scalars(
        select(Transaction)
        .join(Account, Account.id == Transaction.account_id)
        .where(
            Account.customer_id == customer_id,
            Transaction.created_at >= since,
            Transaction.created_at < until,
        )
        .order_by(Transaction.created_at, Transaction.id)
    )
    return list(rows.all())


async def balance_before(session: AsyncSession, customer_id: int, moment: datetime) -> int:
    """The sum of the customer's ledger rows posted before `moment`."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Transaction.amount), 0))
        .join(Account, Account.id == Transaction.account_id)
        .where(Account.customer_id == customer_id, Transaction.created_at < moment)
    )
    return int(total or 0)


# --- invoices -------------------------------------------------------------------------------


async def pending_invoice_for(
    session: AsyncSession, customer_id: int, first: date, last: date, amount: int
) -> Invoice | None:
    return await session.scalar(
        select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.period_start == first,
            Invoice.period_end == last,
            Invoice.amount == amount,
            Invoice.status == InvoiceStatus.pending,
        )
        .order_by(Invoice.id.desc())
        .limit(1)
    )


async def invoices_with_prefix(session: AsyncSession, prefix: str) -> int:
    """How many invoice numbers start with `prefix`."""
    count = await session.scalar(
        select(func.count()).select_from(Invoice).where(Invoice.number.startswith(prefix))
    )
    return int(count or 0)


async def invoices_issued_on(
    session: AsyncSession, day: date, after_id: int, limit: int
) -> list[Invoice]:
    rows = await session.scalars(
        select(Invoice)
        .where(Invoice.issued_on == day, Invoice.id > after_id)
        .order_by(Invoice.id)
        .limit(limit)
    )
    return list(rows.all())


# --- the billing run ------------------------------------------------------------------------


async def customers_with_service(
    session: AsyncSession, after_id: int, month_first: date, month_last: date, limit: int
) -> list[int]:
    """Customers whose subscription (active, blocked or suspended) covered part of the month,
    in id order after `after_id`."""
    rows = await session.scalars(
        select(Subscription.customer_id)
        .where(
            Subscription.customer_id > after_id,
            Subscription.status.in_(
                [
                    SubscriptionStatus.active,
                    SubscriptionStatus.blocked,
                    SubscriptionStatus.suspended,
                ]
            ),
            Subscription.started_on <= month_last,
            or_(Subscription.ended_on.is_(None), Subscription.ended_on >= month_first),
        )
        .group_by(Subscription.customer_id)
        .order_by(Subscription.customer_id)
        .limit(limit)
    )
    return [int(c) for c in rows.all()]
