"""Ledgers and PDF text for document tests."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pypdf import PdfReader
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import ledger, rules
from backend.clock import business_today
from backend.config import Settings
from backend.documents.pdf import format_money
from backend.models import Customer, Transaction, TransactionReason


def pdf_text(data: bytes) -> str:
    """All text of a PDF, pages joined: what a reader (or a search engine) gets out of it."""
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def ru(amount: int) -> str:
    return format_money(amount, "RUB", "ru")


def en(amount: int) -> str:
    return format_money(amount, "RUB", "en")


def months_back(settings: Settings, n: int) -> date:
    """The first day of the month `n` months before the current business month."""
    first = rules.month_start(business_today(settings))
    for _ in range(n):
        first = rules.month_start(first - timedelta(days=1))
    return first


def local_moment(settings: Settings, day: date, hour: int = 0, minute: int = 5) -> datetime:
    """A moment on `day` in the billing time zone (as the daily run posts its charges)."""
    return datetime.combine(day, time(hour, minute), ZoneInfo(settings.billing_timezone))


async def post_at(
    session: AsyncSession,
    customer: Customer,
    amount: int,
    when: datetime,
    *,
    reason: TransactionReason,
    reference_kind: str,
    reference: str,
    description: str | None = None,
) -> Transaction:
    """A ledger row posted through the ledger, then dated `when` (the ledger stamps now)."""
    txn, created = await ledger.post(
        session,
        customer_id=customer.id,
        amount=amount,
        reason=reason,
        reference_kind=reference_kind,
        reference=reference,
        description=description,
    )
    assert created
    # The ledger is append-only (a trigger refuses UPDATE); the tests' superuser dates the row
    # with the triggers off for this one statement.
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    txn.created_at = when
    await session.flush()
    await session.execute(text("SET LOCAL session_replication_role = origin"))
    return txn


async def post_daily_charges(
    session: AsyncSession,
    settings: Settings,
    customer: Customer,
    *,
    subscription_id: int,
    tariff_name: str,
    monthly_fee: int,
    first: date,
    last: date,
) -> list[Transaction]:
    """The daily-share charges the billing run posts for each day from `first` to `last`,
    each at 00:05 local time of its day and with the run's charge reference."""
    rows = []
    day = first
    while day <= last:
        rows.append(
            await post_at(
                session,
                customer,
                -rules.daily_share(monthly_fee, day),
                local_moment(settings, day),
                reason=TransactionReason.charge,
                reference_kind="charge",
                reference=f"sub:{subscription_id}:{day.isoformat()}",
                description=tariff_name,
            )
        )
        day += timedelta(days=1)
    return rows
