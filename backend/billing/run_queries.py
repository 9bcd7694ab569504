"""SQL of the billing run. On PostgreSQL each chunk of subscriptions is charged by one
set-based statement (a 100k-subscription run must stay near raw-SQL speed), the ledger's
second writer beside `ledger.post`; the portable path (SQLite, the embedded default) evaluates
the same rule (`rules.charge_for_day`) in Python and posts each charge by `ledger.post`,
inside the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import String, and_, case, cast, func, literal, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from backend.billing import ledger, repository, rules
from backend.clock import utcnow
from backend.db import dialect_insert
from backend.models import (
    Account,
    BillingPeriod,
    BillingRun,
    Invoice,
    InvoiceStatus,
    OutboxMessage,
    Subscription,
    SubscriptionStatus,
    Suspension,
    SuspensionStatus,
    Tariff,
    Transaction,
    TransactionReason,
)


@dataclass
class ChunkResult:
    last_subscription_id: int
    seen: int
    charged: int
    total: int


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# PostgreSQL, statement 1 of a chunk: the next `chunk` live subscriptions by id, whatever
# their status (a payment may unblock one, a freeze pause one, meanwhile), and their accounts
# locked in id order. Every path that changes what a charge depends on (the tariff, the
# status) holds the account lock while it does, so once these locks are held the next
# statement, with a fresh snapshot, reads settled state. One statement cannot do both: its
# snapshot predates the wait for the locks, and it would charge a tariff or a status that a
# transaction committed while it waited (docs/billing.md, "Locks").
_PG_LOCK_CHUNK = text(
    """
WITH chunk AS (
    SELECT s.id, s.customer_id
    FROM subscriptions s
    WHERE s.id > :after AND s.started_on <= :day AND (s.ended_on IS NULL OR s.ended_on >= :day)
    ORDER BY s.id
    LIMIT :chunk
), locked AS (
    SELECT a.id FROM accounts a
    WHERE a.customer_id IN (SELECT customer_id FROM chunk)
    ORDER BY a.id
    FOR UPDATE
)
SELECT (SELECT max(id) FROM chunk) AS last_sid,
       (SELECT count(*) FROM chunk) AS seen,
       (SELECT count(*) FROM locked) AS locked
"""
)

# Statement 2: compute the day's charge of the chunk's active subscriptions, skip those
# already posted, insert the charges with their running balance, and move the balances, in
# one round trip. This is the ledger's second writer beside `ledger.post` (its docstring says
# what it keeps: the balance moved with the rows, `balance_after` the running sum in id
# order, the unique (reference_kind, reference) index the final guard). The amount and the
# reference are the rule of `rules.charge_for_day` / `rules.charge_reference`, rendered as SQL
# for the charging mode (one statement per mode).
_PG_CHARGE_CHUNK_SQL = """
WITH subs AS (
    SELECT s.id AS sid, a.id AS aid, a.currency, a.balance, t.price, t.billing_period,
           t.name AS tariff_name
    FROM subscriptions s
    JOIN tariffs t ON t.id = s.tariff_id
    JOIN accounts a ON a.customer_id = s.customer_id
    WHERE s.id > :after AND s.id <= :last AND s.status = 'active'
      AND s.started_on <= :day AND (s.ended_on IS NULL OR s.ended_on >= :day)
),
charges AS (
    SELECT sid, aid, currency, balance, tariff_name,
           {amount} AS amount,
           {reference} AS reference
    FROM subs
),
todo AS (
    -- LATERAL ... LIMIT 1 keeps the "already charged?" check an index probe per row; as a
    -- NOT EXISTS the planner hashes every charge of the day, once per chunk.
    SELECT c.*, c.balance - sum(c.amount) OVER (PARTITION BY c.aid ORDER BY c.sid)
               AS balance_after
    FROM charges c
    LEFT JOIN LATERAL (
        SELECT 1 AS found FROM transactions x
        WHERE x.reference_kind = 'charge' AND x.reference = c.reference
        LIMIT 1
    ) done ON true
    WHERE c.amount > 0 AND done.found IS NULL
),
ins AS (
    -- in the window's order, so that the ids follow balance_after: each row's balance_after
    -- is its account's running sum in id order, as `ledger.post` leaves it
    INSERT INTO transactions (account_id, amount, currency, reason, reference_kind, reference,
                              description, balance_after, created_at)
    SELECT aid, -amount, currency, 'charge', 'charge', reference, tariff_name, balance_after,
           :now
    FROM todo
    ORDER BY aid, sid
    ON CONFLICT (reference_kind, reference) DO NOTHING
    RETURNING account_id, amount
),
upd AS (
    UPDATE accounts a SET balance = a.balance + x.total
    FROM (SELECT account_id, sum(amount) AS total FROM ins GROUP BY account_id) x
    WHERE a.id = x.account_id
    RETURNING a.id
)
SELECT (SELECT count(*) FROM ins) AS charged,
       (SELECT coalesce(-sum(amount), 0) FROM ins) AS total,
       (SELECT count(*) FROM upd) AS accounts
"""
_PG_CHARGE_CHUNK = {
    mode: text(
        _PG_CHARGE_CHUNK_SQL.format(
            amount=rules.charge_amount_sql(mode), reference=rules.charge_reference_sql(mode)
        )
    )
    for mode in rules.CHARGING_MODES
}


def _charge_params(day: date) -> dict[str, Any]:
    return {**rules.charge_sql_params(day), "day": day, "now": utcnow()}


async def charge_chunk(
    session: AsyncSession, day: date, after_id: int, chunk: int, mode: str
) -> ChunkResult:
    """Charge the day for the next `chunk` live subscriptions after `after_id` (in id order):
    their accounts are locked first, then what is charged is read."""
    if is_postgres(session):
        params = {**_charge_params(day), "after": after_id, "chunk": chunk}
        picked = (await session.execute(_PG_LOCK_CHUNK, params)).one()
        if not picked.seen:
            return ChunkResult(last_subscription_id=after_id, seen=0, charged=0, total=0)
        last = int(picked.last_sid)
        statement = _PG_CHARGE_CHUNK[mode]
        row = (await session.execute(statement, {**params, "last": last})).one()
        return ChunkResult(
            last_subscription_id=last,
            seen=int(picked.seen),
            charged=int(row.charged),
            total=int(row.total),
        )
    return await _charge_chunk_portable(session, day, after_id, chunk, mode)


def _live_on(day: date) -> Any:
    return and_(
        Subscription.started_on <= day,
        or_(Subscription.ended_on.is_(None), Subscription.ended_on >= day),
    )


async def _charge_chunk_portable(
    session: AsyncSession, day: date, after_id: int, chunk: int, mode: str
) -> ChunkResult:
    """The plain path (SQLite): the same order as on PostgreSQL (pick the chunk, lock its
    accounts, then read), the rule evaluated in Python, and each charge posted by
    `ledger.post`, as every other balance change is."""
    picked = (
        await session.execute(
            select(Subscription.id, Subscription.customer_id)
            .where(Subscription.id > after_id, _live_on(day))
            .order_by(Subscription.id)
            .limit(chunk)
        )
    ).all()
    if not picked:
        return ChunkResult(last_subscription_id=after_id, seen=0, charged=0, total=0)
    last = int(picked[-1][0])
    await repository.lock_accounts(session, sorted({int(c) for _, c in picked}))
    rows = (
        await session.execute(
            select(
                Subscription.id,
                Subscription.customer_id,
                Tariff.price,
                Tariff.billing_period,
                Tariff.name,
            )
            .join(Tariff, Tariff.id == Subscription.tariff_id)
            .join(Account, Account.customer_id == Subscription.customer_id)
            .where(
                Subscription.id > after_id,
                Subscription.id <= last,
                Subscription.status == SubscriptionStatus.active,
                _live_on(day),
            )
            .order_by(Subscription.id)
        )
    ).all()
    charged = total = 0
    for sid, customer_id, price, period, tariff_name in rows:
        amount = rules.charge_for_day(price, BillingPeriod(period), day, mode)
        if amount <= 0:
            continue
        reference = rules.charge_reference(sid, BillingPeriod(period), day, mode)
        # A posted reference is its period's charge, whatever the rule makes of today (in
        # period-start mode the month's is found again every later day, at another amount):
        # skipped here, where `ledger.post` would call it a duplicate with other terms.
        if await repository.transaction_by_reference(session, "charge", reference):
            continue
        await ledger.post(
            session,
            customer_id=int(customer_id),
            amount=-amount,
            reason=TransactionReason.charge,
            reference_kind="charge",
            reference=reference,
            description=tariff_name,
        )
        charged += 1
        total += amount
    return ChunkResult(last_subscription_id=last, seen=len(picked), charged=charged, total=total)


async def _insert_outbox_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    insert = dialect_insert(session)
    now = utcnow()
    values = [{**r, "available_at": now, "created_at": now} for r in rows]
    result = await session.execute(
        insert(OutboxMessage).values(values).on_conflict_do_nothing(index_elements=["dedup_key"])
    )
    return int(getattr(result, "rowcount", 0) or 0)


# The block reads balances that payments change: the debtors' accounts are locked first (a
# payment that committed while the lock was awaited is seen: PostgreSQL checks the balance
# again on the row's newest version), and the block itself, a fresh statement, blocks only
# accounts still in debt. A payment that comes later waits for the lock, then sees the block
# and lifts it (lifecycle.after_credit).
_PG_LOCK_DEBTORS = text(
    """
SELECT a.customer_id FROM accounts a
WHERE a.balance < -CAST(:threshold AS bigint)
  AND EXISTS (SELECT 1 FROM subscriptions s
              WHERE s.customer_id = a.customer_id AND s.status = 'active')
ORDER BY a.id
FOR UPDATE OF a
"""
)

# Block and queue the notices in one statement (a row-by-row insert of 10k events costs ~1 s).
_PG_BLOCK = text(
    """
WITH blocked AS (
    UPDATE subscriptions s SET status = 'blocked', blocked_at = :now
    FROM accounts a
    WHERE a.customer_id = s.customer_id AND s.status = 'active'
      AND a.balance < -CAST(:threshold AS bigint)
      AND a.customer_id = ANY(CAST(:customers AS bigint[]))
    RETURNING s.id, s.customer_id
), events AS (
    INSERT INTO outbox (kind, payload, dedup_key, status, attempts, available_at, created_at)
    SELECT 'subscription.blocked',
           jsonb_build_object('customer_id', customer_id, 'subscription_id', id,
                              'day', CAST(:day AS text)),
           'blocked:' || id || ':' || CAST(:day AS text), 'pending', 0, :now, :now
    FROM blocked
    ON CONFLICT (dedup_key) DO NOTHING
)
SELECT id, customer_id FROM blocked
"""
)

_PG_LOW_BALANCE = text(
    """
WITH candidates AS (
    SELECT s.customer_id, a.balance,
           a.balance / CASE WHEN t.billing_period = 'daily' THEN t.price
                            ELSE (t.price + CAST(:n AS bigint) - 1) / CAST(:n AS bigint)
                       END AS days_left
    FROM subscriptions s
    JOIN tariffs t ON t.id = s.tariff_id
    JOIN accounts a ON a.customer_id = s.customer_id
    WHERE s.status = 'active' AND t.price > 0 AND a.balance >= 0
), ins AS (
    INSERT INTO outbox (kind, payload, dedup_key, status, attempts, available_at, created_at)
    SELECT DISTINCT ON (customer_id) 'billing.low_balance',
           jsonb_build_object('customer_id', customer_id, 'balance', balance,
                              'days_left', days_left),
           'low-balance:' || customer_id || ':' || CAST(:day AS text), 'pending', 0, :now, :now
    FROM candidates
    WHERE days_left = ANY(CAST(:thresholds AS bigint[]))
    ORDER BY customer_id, days_left
    ON CONFLICT (dedup_key) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM ins
"""
)


async def queue_low_balance_notices(session: AsyncSession, day: date, thresholds: list[int]) -> int:
    """Queue a notice for active customers whose balance lasts exactly one of the threshold
    numbers of days (so each threshold is announced once, as it is crossed). Returns how many
    were queued now."""
    if not thresholds:
        return 0
    if is_postgres(session):
        return int(
            (
                await session.execute(
                    _PG_LOW_BALANCE,
                    {
                        "n": rules.days_in_month(day),
                        "day": day.isoformat(),
                        "now": utcnow(),
                        "thresholds": list(thresholds),
                    },
                )
            ).scalar_one()
        )
    return await enqueue_low_balance(
        session, day, await low_balance_candidates(session, day, thresholds)
    )


async def block_debtors(session: AsyncSession, day: date, threshold: int) -> list[tuple[int, int]]:
    """Lift the blocks that are covered now (`restore_covered`), then block active
    subscriptions whose balance is below -threshold; returns (subscription id, customer id) of
    those blocked now, with an outbox event each."""
    await restore_covered(session, threshold)
    if is_postgres(session):
        debtors = [
            int(c)
            for c in (await session.execute(_PG_LOCK_DEBTORS, {"threshold": threshold})).scalars()
        ]
        if not debtors:
            return []
        rows = (
            await session.execute(
                _PG_BLOCK,
                {
                    "threshold": threshold,
                    "customers": debtors,
                    "day": day.isoformat(),
                    "now": utcnow(),
                },
            )
        ).all()
        return [(int(sid), int(cid)) for sid, cid in rows]
    # SQLite: one UPDATE reads and writes under the database's write lock.
    debtor_customers = select(Account.customer_id).where(Account.balance < -threshold)
    blocked = (
        await session.execute(
            update(Subscription)
            .where(
                Subscription.status == SubscriptionStatus.active,
                Subscription.customer_id.in_(debtor_customers),
            )
            .values(status=SubscriptionStatus.blocked, blocked_at=utcnow())
            .returning(Subscription.id, Subscription.customer_id)
        )
    ).all()
    pairs = [(int(sid), int(cid)) for sid, cid in blocked]
    for start in range(0, len(pairs), 1000):
        batch = pairs[start : start + 1000]
        await _insert_outbox_rows(
            session,
            [
                {
                    "kind": "subscription.blocked",
                    "payload": {"customer_id": cid, "subscription_id": sid, "day": day.isoformat()},
                    "dedup_key": f"blocked:{sid}:{day.isoformat()}",
                }
                for sid, cid in batch
            ],
        )
    return pairs


async def restore_covered(session: AsyncSession, threshold: int) -> list[tuple[int, int]]:
    """Lift every block for debt that the balance covers now (>= -threshold): a payment that
    raced the block, a credit that did not pass through lifecycle.after_credit. A subscription
    in the middle of a freeze goes back to `suspended` (the pause goes on); the others are
    active again, with a `subscription.restored` event. Returns (subscription id, customer
    id) of those active again."""
    floor = -threshold
    candidates = [
        int(c)
        for c in await session.scalars(
            select(Account.customer_id)
            .where(
                Account.balance >= floor,
                Account.customer_id.in_(
                    select(Subscription.customer_id).where(
                        Subscription.status == SubscriptionStatus.blocked
                    )
                ),
            )
            .order_by(Account.id)
            .with_for_update()  # PostgreSQL checks the balance again once the lock is held
        )
    ]
    now = utcnow()
    restored: list[tuple[int, int]] = []
    for start in range(0, len(candidates), 1000):
        still_covered = select(Account.customer_id).where(
            Account.customer_id.in_(candidates[start : start + 1000]), Account.balance >= floor
        )
        blocked = and_(
            Subscription.status == SubscriptionStatus.blocked,
            Subscription.customer_id.in_(still_covered),
        )
        frozen = (
            select(Suspension.id)
            .where(
                Suspension.subscription_id == Subscription.id,
                Suspension.status == SuspensionStatus.active,
            )
            .exists()
        )
        await session.execute(
            update(Subscription)
            .where(blocked, frozen)
            .values(status=SubscriptionStatus.suspended, blocked_at=None)
            .execution_options(synchronize_session=False)
        )
        rows = (
            await session.execute(
                update(Subscription)
                .where(blocked)
                .values(status=SubscriptionStatus.active, blocked_at=None)
                .returning(Subscription.id, Subscription.customer_id)
                .execution_options(synchronize_session=False)
            )
        ).all()
        await _insert_outbox_rows(
            session,
            [
                {
                    "kind": "subscription.restored",
                    "payload": {"customer_id": int(cid), "subscription_id": int(sid)},
                    "dedup_key": f"restored:{int(sid)}:{now.isoformat()}",
                }
                for sid, cid in rows
            ],
        )
        restored += [(int(sid), int(cid)) for sid, cid in rows]
    return restored


async def low_balance_candidates(
    session: AsyncSession, day: date, thresholds: list[int]
) -> list[tuple[int, int, int]]:
    """(customer id, balance, days left) for active customers whose balance lasts exactly one
    of the threshold numbers of days (so each threshold is announced once as it is crossed)."""
    if not thresholds:
        return []
    n = rules.days_in_month(day)
    # ceil(price / n) a day for monthly tariffs, the price itself for daily ones
    daily_cost = case(
        (Tariff.billing_period == BillingPeriod.daily, Tariff.price),
        else_=(Tariff.price + (n - 1)) // n,
    )
    days_left = Account.balance // daily_cost
    rows = (
        await session.execute(
            select(Subscription.customer_id, Account.balance, days_left)
            .join(Tariff, Tariff.id == Subscription.tariff_id)
            .join(Account, Account.customer_id == Subscription.customer_id)
            .where(
                Subscription.status == SubscriptionStatus.active,
                Tariff.price > 0,
                Account.balance >= 0,
                days_left.in_(thresholds),
            )
        )
    ).all()
    return [(int(c), int(b), int(d)) for c, b, d in rows]


async def enqueue_low_balance(
    session: AsyncSession, day: date, candidates: list[tuple[int, int, int]]
) -> int:
    created = 0
    for start in range(0, len(candidates), 1000):
        created += await _insert_outbox_rows(
            session,
            [
                {
                    "kind": "billing.low_balance",
                    "payload": {"customer_id": cid, "balance": bal, "days_left": days},
                    "dedup_key": f"low-balance:{cid}:{day.isoformat()}",
                }
                for cid, bal, days in candidates[start : start + 1000]
            ],
        )
    return created


async def issue_monthly_invoices(
    session: AsyncSession, day: date, due_days: int, currency: str
) -> int:
    """On the first day of a month: one invoice per customer with an active subscription, for
    the month's fees. Already covered -> issued as paid. "Covered" is judged on the balance
    before the month's charges: the run posts them before it issues the invoices, and money
    paid ahead for exactly the month must not read as short by the 1st's own charge."""
    month_start = rules.month_start(day)
    month_end = rules.month_end(day)
    # The 1st's charge of each subscription is under the day's reference (daily share) or the
    # month's (period start); one probe of the unique reference index each.
    by_day = aliased(Transaction)
    by_month = aliased(Transaction)
    sub_ref = literal("sub:") + cast(Subscription.id, String) + literal(":")
    charged_today = func.coalesce(-by_day.amount, 0) + func.coalesce(-by_month.amount, 0)
    rows = (
        await session.execute(
            select(
                Subscription.customer_id,
                func.sum(Tariff.price),
                Account.balance + func.sum(charged_today),
            )
            .join(Tariff, Tariff.id == Subscription.tariff_id)
            .join(Account, Account.customer_id == Subscription.customer_id)
            .outerjoin(
                by_day,
                and_(
                    by_day.reference_kind == "charge",
                    by_day.reference == sub_ref + literal(day.isoformat()),
                ),
            )
            .outerjoin(
                by_month,
                and_(
                    by_month.reference_kind == "charge",
                    by_month.reference == sub_ref + literal(f"{day:%Y-%m}"),
                ),
            )
            .where(
                Subscription.status.in_([SubscriptionStatus.active, SubscriptionStatus.blocked]),
                Tariff.billing_period == BillingPeriod.monthly,
                Tariff.price > 0,
            )
            .group_by(Subscription.customer_id, Account.balance)
        )
    ).all()
    if not rows:
        return 0
    insert = dialect_insert(session)
    now = utcnow()
    issued = 0
    for start in range(0, len(rows), 1000):
        batch = rows[start : start + 1000]
        values = []
        for cid, amount, balance_before_charges in batch:
            prepaid = int(balance_before_charges) >= int(amount)
            values.append(
                {
                    "number": f"INV-{day:%Y%m}-{int(cid):06d}",
                    "customer_id": int(cid),
                    "amount": int(amount),
                    "paid_amount": int(amount) if prepaid else 0,
                    "currency": currency,
                    "status": InvoiceStatus.paid if prepaid else InvoiceStatus.pending,
                    "period_start": month_start,
                    "period_end": month_end,
                    "issued_on": day,
                    "due_date": day + timedelta(days=due_days),
                    "paid_at": now if prepaid else None,
                    "created_at": now,
                }
            )
        result = await session.execute(
            insert(Invoice)
            .values(values)
            .on_conflict_do_nothing(index_elements=["number"])
            .returning(
                Invoice.id, Invoice.customer_id, Invoice.number, Invoice.amount, Invoice.status
            )
        )
        created = result.all()
        issued += len(created)
        due = (day + timedelta(days=due_days)).isoformat()
        await _insert_outbox_rows(
            session,
            [
                {
                    "kind": "invoice.issued",
                    "payload": {
                        "customer_id": int(c),
                        "invoice_id": int(i),
                        "number": num,
                        "amount": int(amount),
                        "currency": currency,
                        "due_date": due,
                        "status": InvoiceStatus(status).value,
                    },
                    "dedup_key": f"invoice-issued:{int(i)}",
                }
                for i, c, num, amount, status in created
            ],
        )
    return issued


async def get_or_start_run(session: AsyncSession, day: date) -> BillingRun:
    run = await session.scalar(select(BillingRun).where(BillingRun.run_date == day))
    if run is None:
        insert = dialect_insert(session)
        await session.execute(
            insert(BillingRun)
            .values(run_date=day, started_at=utcnow(), last_subscription_id=0, stats={})
            .on_conflict_do_nothing(index_elements=["run_date"])
        )
        run = await session.scalar(select(BillingRun).where(BillingRun.run_date == day))
        assert run is not None
    return run


async def save_progress(
    session: AsyncSession, run_id: int, last_id: int, charged: int, total: int
) -> None:
    await session.execute(
        update(BillingRun)
        .where(BillingRun.id == run_id)
        .values(
            last_subscription_id=last_id,
            charged_count=BillingRun.charged_count + charged,
            charged_total=BillingRun.charged_total + total,
        )
    )
