from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.models import (
    Account,
    BillingPeriod,
    Invoice,
    InvoiceStatus,
    Subscription,
    SubscriptionStatus,
    Tariff,
    Transaction,
)

# Bound parameters per statement stay well below SQLite's and asyncpg's limits.
_LOCK_BATCH = 5000


async def lock_account(session: AsyncSession, customer_id: int) -> Account | None:
    """The customer's account under a row lock (PostgreSQL; SQLite serialises writers)."""
    return await session.scalar(
        select(Account).where(Account.customer_id == customer_id).with_for_update()
    )


async def lock_accounts(session: AsyncSession, customer_ids: Sequence[int]) -> None:
    """Row locks on these customers' accounts, in account id order (two lockers never
    deadlock). SQLite has no row locks: a write that changes nothing takes its database-wide
    write lock instead, so what the transaction reads next stays current until it commits."""
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(customer_ids), _LOCK_BATCH):
        batch = list(customer_ids[start : start + _LOCK_BATCH])
        if postgres:
            await session.execute(
                select(Account.id)
                .where(Account.customer_id.in_(batch))
                .order_by(Account.id)
                .with_for_update()
            )
        else:
            await session.execute(
                update(Account)
                .where(Account.customer_id.in_(batch))
                .values(balance=Account.balance)
                .execution_options(synchronize_session=False)
            )


async def transaction_by_reference(
    session: AsyncSession, reference_kind: str, reference: str
) -> Transaction | None:
    return await session.scalar(
        select(Transaction).where(
            Transaction.reference_kind == reference_kind, Transaction.reference == reference
        )
    )


async def add_to_balance(session: AsyncSession, account_id: int, amount: int) -> int:
    """Atomic `balance = balance + amount`; returns the new balance."""
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(balance=Account.balance + amount)
        .returning(Account.balance)
    )
    return int(result.scalar_one())


async def transactions_sum(session: AsyncSession, account_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Transaction.amount), 0)).where(
            Transaction.account_id == account_id
        )
    )
    return int(total or 0)


async def recent_transactions(
    session: AsyncSession, account_id: int, limit: int, before_id: int | None = None
) -> list[Transaction]:
    query = (
        select(Transaction)
        .where(Transaction.account_id == account_id)
        .order_by(Transaction.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(Transaction.id < before_id)
    return list((await session.scalars(query)).all())


async def transactions_for_customer(
    session: AsyncSession, customer_id: int, limit: int, before_id: int | None = None
) -> list[Transaction]:
    """Newest first; the join saves looking the account up first."""
    query = (
        select(Transaction)
        .join(Account, Account.id == Transaction.account_id)
        .where(Account.customer_id == customer_id)
        .order_by(Transaction.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(Transaction.id < before_id)
    return list((await session.scalars(query)).all())


class BalanceRow(NamedTuple):
    balance: int
    currency: str
    price: int | None
    billing_period: BillingPeriod | None


async def balance_row(session: AsyncSession, customer_id: int) -> BalanceRow | None:
    """Balance and the active tariff's price in ONE statement: GET /billing/balance is the
    hottest read of the product (every bot menu header shows it)."""
    query = (
        select(Account.balance, Account.currency, Tariff.price, Tariff.billing_period)
        .select_from(Account)
        .outerjoin(
            Subscription,
            and_(
                Subscription.customer_id == Account.customer_id,
                Subscription.status == SubscriptionStatus.active,
                Subscription.ended_on.is_(None),
            ),
        )
        .outerjoin(Tariff, Tariff.id == Subscription.tariff_id)
        .where(Account.customer_id == customer_id)
        .order_by(Subscription.id.desc().nulls_last())
        .limit(1)
    )
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    return BalanceRow(int(row[0]), str(row[1]), row[2], row[3])


# The same query in the driver's own SQL: the balance is the hottest read of the product (every
# bot menu header shows it) and SQLAlchemy's ORM session adds ~0.5 ms of Python and two round
# trips (BEGIN/ROLLBACK) around a 0.1 ms query. Kept equal to balance_row() by a test.
_PG_BALANCE_SQL = """
SELECT a.balance, a.currency, t.price, t.billing_period
FROM accounts a
LEFT JOIN subscriptions s
       ON s.customer_id = a.customer_id AND s.status = 'active' AND s.ended_on IS NULL
LEFT JOIN tariffs t ON t.id = s.tariff_id
WHERE a.customer_id = $1
ORDER BY s.id DESC NULLS LAST
LIMIT 1
"""


async def balance_row_fast(engine: AsyncEngine, customer_id: int) -> BalanceRow | None:
    """balance_row() without a session: one statement on a pooled connection, no transaction
    (a single SELECT is consistent on its own). Other databases take the ORM path."""
    if engine.dialect.name != "postgresql":
        async with AsyncSession(engine) as session:
            return await balance_row(session, customer_id)
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        row = await driver.fetchrow(_PG_BALANCE_SQL, customer_id)
    if row is None:
        return None
    period = BillingPeriod(row[3]) if row[3] is not None else None
    return BalanceRow(int(row[0]), str(row[1]), row[2], period)


async def account_exists(session: AsyncSession, customer_id: int) -> bool:
    found = await session.scalar(select(Account.id).where(Account.customer_id == customer_id))
    return found is not None


async def current_subscription(
    session: AsyncSession, customer_id: int
) -> tuple[Subscription, Tariff] | None:
    """The newest subscription that has not ended (active, suspended or blocked)."""
    row = (
        await session.execute(
            select(Subscription, Tariff)
            .join(Tariff, Tariff.id == Subscription.tariff_id)
            .where(Subscription.customer_id == customer_id, Subscription.ended_on.is_(None))
            .order_by(Subscription.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


# --- tariffs --------------------------------------------------------------------------------


async def tariffs(session: AsyncSession, *, include_inactive: bool) -> list[Tariff]:
    query = select(Tariff).order_by(Tariff.price, Tariff.id)
    if not include_inactive:
        query = query.where(Tariff.is_active.is_(True))
    return list((await session.scalars(query)).all())


async def tariff_by_id(session: AsyncSession, tariff_id: int) -> Tariff | None:
    return await session.get(Tariff, tariff_id)


async def tariff_name_taken(
    session: AsyncSession, name: str, exclude_id: int | None = None
) -> bool:
    """Case-insensitive: "Дом 100" and "дом 100" would confuse customers choosing a tariff."""
    query = select(Tariff.id).where(func.lower(Tariff.name) == name.lower())
    if exclude_id is not None:
        query = query.where(Tariff.id != exclude_id)
    return (await session.scalar(query.limit(1))) is not None


# --- invoices -------------------------------------------------------------------------------


async def invoices_for_customer(
    session: AsyncSession,
    customer_id: int,
    *,
    status: InvoiceStatus | None,
    limit: int,
    before_id: int | None,
) -> list[Invoice]:
    query = (
        select(Invoice)
        .where(Invoice.customer_id == customer_id)
        .order_by(Invoice.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(Invoice.status == status)
    if before_id is not None:
        query = query.where(Invoice.id < before_id)
    return list((await session.scalars(query)).all())


async def invoice_by_id(session: AsyncSession, invoice_id: int) -> Invoice | None:
    return await session.get(Invoice, invoice_id)
