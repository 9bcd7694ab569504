from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple, TypeVar

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.models import (
    Account,
    BillingPeriod,
    BillingRun,
    BillingRunStatus,
    Invoice,
    InvoiceStatus,
    PromisedPayment,
    PromisedPaymentStatus,
    Subscription,
    SubscriptionStatus,
    Suspension,
    SuspensionStatus,
    Tariff,
    Transaction,
)

# Bound parameters per statement stay well below SQLite's and asyncpg's limits.
_LOCK_BATCH = 5000
# The rows a money path re-reads under a lock once it holds the account lock.
Locked = TypeVar("Locked", Subscription, PromisedPayment, Suspension)


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


async def row_for_update(session: AsyncSession, model: type[Locked], row_id: int) -> Locked | None:
    """The row with this id under a row lock. Take its customer's account lock first (the
    order every money path uses, so two of them never deadlock)."""
    return await session.scalar(select(model).where(model.id == row_id).with_for_update())


async def balance(session: AsyncSession, customer_id: int) -> int:
    """The customer's balance (0 without an account), with no lock of its own: callers that
    act on it hold the account lock already."""
    value = await session.scalar(select(Account.balance).where(Account.customer_id == customer_id))
    return int(value or 0)


async def balance_and_currency(session: AsyncSession, customer_id: int) -> tuple[int, str] | None:
    row = (
        await session.execute(
            select(Account.balance, Account.currency).where(Account.customer_id == customer_id)
        )
    ).one_or_none()
    return None if row is None else (int(row[0]), str(row[1]))


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


async def balance_reached_zero_since(
    session: AsyncSession, account_id: int, transaction_id: int
) -> bool:
    """Whether a transaction after `transaction_id` left the balance at zero or above."""
    found = await session.scalar(
        select(
            exists().where(
                Transaction.account_id == account_id,
                Transaction.id > transaction_id,
                Transaction.balance_after >= 0,
            )
        )
    )
    return bool(found)


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


async def current_subscription_for_update(
    session: AsyncSession, customer_id: int
) -> Subscription | None:
    """current_subscription() under a row lock, without the tariff (its row stays unlocked).
    Take the account lock first: the order every money path uses."""
    return await session.scalar(
        select(Subscription)
        .where(Subscription.customer_id == customer_id, Subscription.ended_on.is_(None))
        .order_by(Subscription.id.desc())
        .limit(1)
        .with_for_update()
    )


async def block_active_subscriptions(
    session: AsyncSession, customer_id: int, now: datetime
) -> list[int]:
    """Mark the customer's active subscriptions blocked for debt; their ids."""
    blocked = await session.scalars(
        update(Subscription)
        .where(
            Subscription.customer_id == customer_id,
            Subscription.status == SubscriptionStatus.active,
        )
        .values(status=SubscriptionStatus.blocked, blocked_at=now)
        .returning(Subscription.id)
    )
    return list(blocked.all())


async def due_tariff_changes(session: AsyncSession, day: date) -> list[tuple[int, int]]:
    """(subscription id, customer id) of the scheduled tariff changes due by `day`, in id
    order, unlocked: the caller locks and re-reads each one."""
    rows = await session.execute(
        select(Subscription.id, Subscription.customer_id)
        .where(
            Subscription.scheduled_tariff_id.is_not(None),
            Subscription.scheduled_change_on <= day,
            Subscription.ended_on.is_(None),
        )
        .order_by(Subscription.id)
    )
    return [(int(sid), int(cid)) for sid, cid in rows.all()]


async def run_passed(session: AsyncSession, day: date, subscription_id: int) -> bool:
    """Whether the day's billing run has been past this subscription (it walks them in id
    order and records its progress with each chunk)."""
    run = (
        await session.execute(
            select(BillingRun.status, BillingRun.last_subscription_id).where(
                BillingRun.run_date == day
            )
        )
    ).one_or_none()
    if run is None:
        return False
    return run[0] is BillingRunStatus.finished or int(run[1] or 0) >= subscription_id


# --- promised payments ----------------------------------------------------------------------


async def active_promised_payment(
    session: AsyncSession, customer_id: int
) -> PromisedPayment | None:
    return await session.scalar(
        select(PromisedPayment)
        .where(
            PromisedPayment.customer_id == customer_id,
            PromisedPayment.status == PromisedPaymentStatus.active,
        )
        .order_by(PromisedPayment.id.desc())
        .limit(1)
    )


async def promised_payments_since(
    session: AsyncSession, customer_id: int, since: datetime
) -> list[PromisedPayment]:
    """Those created after `since`, newest first."""
    rows = await session.scalars(
        select(PromisedPayment)
        .where(PromisedPayment.customer_id == customer_id, PromisedPayment.created_at > since)
        .order_by(PromisedPayment.created_at.desc(), PromisedPayment.id.desc())
    )
    return list(rows.all())


async def latest_promised_payment(
    session: AsyncSession, customer_id: int
) -> PromisedPayment | None:
    return await session.scalar(
        select(PromisedPayment)
        .where(PromisedPayment.customer_id == customer_id)
        .order_by(PromisedPayment.created_at.desc(), PromisedPayment.id.desc())
        .limit(1)
    )


async def promised_payments_to_remind(
    session: AsyncSession, now: datetime, expiring_by: datetime
) -> list[PromisedPayment]:
    """Active, not yet reminded, expiring after `now` and by `expiring_by`. Rows another
    worker holds are skipped: it is reminding them."""
    rows = await session.scalars(
        select(PromisedPayment)
        .where(
            PromisedPayment.status == PromisedPaymentStatus.active,
            PromisedPayment.reminded_at.is_(None),
            PromisedPayment.expires_at > now,
            PromisedPayment.expires_at <= expiring_by,
        )
        .order_by(PromisedPayment.id)
        .with_for_update(skip_locked=True)
    )
    return list(rows.all())


async def expired_promised_payments(session: AsyncSession, now: datetime) -> list[tuple[int, int]]:
    """(promised payment id, customer id) of the active ones expired by `now`, unlocked: the
    caller locks and re-reads each one."""
    rows = await session.execute(
        select(PromisedPayment.id, PromisedPayment.customer_id)
        .where(
            PromisedPayment.status == PromisedPaymentStatus.active,
            PromisedPayment.expires_at <= now,
        )
        .order_by(PromisedPayment.id)
    )
    return [(int(i), int(c)) for i, c in rows.all()]


# --- suspensions ----------------------------------------------------------------------------


async def overlapping_suspension(
    session: AsyncSession,
    customer_id: int,
    start_on: date,
    end_on: date,
    statuses: Sequence[SuspensionStatus],
) -> Suspension | None:
    """The earliest of the customer's suspensions in `statuses` that shares a day with
    start_on..end_on."""
    return await session.scalar(
        select(Suspension)
        .where(
            Suspension.customer_id == customer_id,
            Suspension.status.in_(statuses),
            Suspension.start_on <= end_on,
            Suspension.end_on >= start_on,
        )
        .order_by(Suspension.start_on)
        .limit(1)
    )


async def suspension_spans(
    session: AsyncSession, customer_id: int, year: int, statuses: Sequence[SuspensionStatus]
) -> list[tuple[date, date]]:
    """(start_on, end_on) of the customer's suspensions in `statuses` that start in `year`."""
    rows = await session.execute(
        select(Suspension.start_on, Suspension.end_on).where(
            Suspension.customer_id == customer_id,
            Suspension.status.in_(statuses),
            Suspension.start_on >= date(year, 1, 1),
            Suspension.start_on <= date(year, 12, 31),
        )
    )
    return [(start, end) for start, end in rows.all()]


async def suspensions_for_customer(
    session: AsyncSession, customer_id: int, limit: int
) -> list[Suspension]:
    """Latest start first."""
    rows = await session.scalars(
        select(Suspension)
        .where(Suspension.customer_id == customer_id)
        .order_by(Suspension.start_on.desc(), Suspension.id.desc())
        .limit(limit)
    )
    return list(rows.all())


async def own_suspension_for_update(
    session: AsyncSession, customer_id: int, suspension_id: int
) -> Suspension | None:
    """The suspension under a row lock, if it is this customer's."""
    return await session.scalar(
        select(Suspension)
        .where(Suspension.id == suspension_id, Suspension.customer_id == customer_id)
        .with_for_update()
    )


async def suspension_ids(
    session: AsyncSession,
    statuses: Sequence[SuspensionStatus],
    *,
    ends_before: date | None = None,
    starts_by: date | None = None,
) -> list[tuple[int, int]]:
    """(suspension id, customer id) in id order, unlocked: the caller locks and re-reads each
    one."""
    query = select(Suspension.id, Suspension.customer_id).where(Suspension.status.in_(statuses))
    if ends_before is not None:
        query = query.where(Suspension.end_on < ends_before)
    if starts_by is not None:
        query = query.where(Suspension.start_on <= starts_by)
    rows = await session.execute(query.order_by(Suspension.id))
    return [(int(i), int(c)) for i, c in rows.all()]


async def suspensions_active_on(session: AsyncSession, day: date) -> list[Suspension]:
    rows = await session.scalars(
        select(Suspension)
        .where(
            Suspension.status == SuspensionStatus.active,
            Suspension.start_on <= day,
            Suspension.end_on >= day,
        )
        .order_by(Suspension.id)
    )
    return list(rows.all())


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
