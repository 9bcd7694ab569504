"""The billing run's set-based charge on PostgreSQL is the ledger's second writer beside
`ledger.post` (backend/billing/ledger.py): it keeps what `post` keeps."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from backend.billing import ledger, ledger_check, rules
from backend.billing.tasks import billing_run
from backend.clock import utcnow
from backend.models import BillingPeriod, Transaction, TransactionReason
from tests.backend.billing.conftest import assert_ledger_invariant, with_settings
from tests.factories import make_customer, make_subscription, make_tariff

FIRST = date(2028, 2, 27)  # across a leap February's end and a 1st
LAST = date(2028, 3, 2)

# Each row against the running sum of its account's rows in id order.
_RUNNING_SUMS = text(
    """
SELECT id, account_id, balance_after,
       sum(amount) OVER (PARTITION BY account_id ORDER BY id) AS running
FROM transactions
"""
)


async def _off_running_sum(session) -> list[tuple[int, int, int, int]]:
    rows = (await session.execute(_RUNNING_SUMS)).all()
    return [tuple(r) for r in rows if r.balance_after != r.running]


async def _charges(session) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Transaction).where(Transaction.reason == "charge")
    )
    return int(count or 0)


@pytest.mark.parametrize("mode", rules.CHARGING_MODES)
async def test_bulk_charges_keep_the_ledgers_guarantees(resources, session, mode):
    res = with_settings(
        resources, charging_mode=mode, billing_chunk_size=2, generate_period_documents=False
    )
    monthly = await make_tariff(session, price=70001)
    daily = await make_tariff(session, price=2500, billing_period=BillingPeriod.daily)
    customers = []
    for i in range(5):
        _, customer = await make_customer(session, with_user=False, balance=50000 * i)
        # several subscriptions an account, so that a chunk charges one account several
        # times (and one account's subscriptions fall in two chunks)
        for j in range(1 + i % 3):
            await make_subscription(
                session,
                customer,
                daily if j == 1 else monthly,
                started_on=FIRST - timedelta(days=40 - 12 * j),
            )
        customers.append(customer.id)
    await session.commit()
    # A charge of one of them already posted (by another writer, at another amount): the run
    # skips its reference.
    sub_of_first = (await session.execute(text("SELECT min(id) FROM subscriptions"))).scalar_one()
    await ledger.post(
        session,
        customer_id=customers[0],
        amount=-1,
        reason=TransactionReason.charge,
        reference_kind="charge",
        reference=rules.charge_reference(sub_of_first, BillingPeriod.monthly, FIRST, mode),
    )
    await session.commit()

    first = await billing_run(res, FIRST)
    # the other writer between two runs, on the same accounts
    for customer_id in customers:
        await ledger.post(
            session, customer_id=customer_id, amount=1234, reason=TransactionReason.topup
        )
    await session.commit()
    rest = await billing_run(res, LAST)
    assert first.charged and rest.charged
    charged = await _charges(session)

    await assert_ledger_invariant(session)
    assert await _off_running_sum(session) == []
    skipped = await session.scalar(
        select(Transaction.amount).where(
            Transaction.reference
            == rules.charge_reference(sub_of_first, BillingPeriod.monthly, FIRST, mode)
        )
    )
    assert skipped == -1

    # a re-run of every day posts nothing
    for day in (FIRST, FIRST + timedelta(days=3), LAST):
        assert (await billing_run(res, day)).charged == 0
    assert await _charges(session) == charged
    report = await ledger_check.check_ledger(res)
    assert report.accounts == len(customers) and report.mismatches == 0
    assert (await ledger_check.find_mismatches(session, utcnow())).mismatches == 0
