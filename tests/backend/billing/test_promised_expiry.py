"""Promised payments expire on time (the worker's periodic pass, docs/billing.md) and a
back-dated billing run expires them by its own day, not by the wall clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from backend.app import default_roles
from backend.audit.service import Actor
from backend.billing import promised, tasks
from backend.billing.tasks import billing_run
from backend.models import (
    BillingPeriod,
    OutboxMessage,
    PromisedPayment,
    PromisedPaymentStatus,
    Role,
    Subscription,
    SubscriptionStatus,
    TransactionReason,
    utcnow,
)
from tests.backend.billing.conftest import (
    assert_ledger_invariant,
    balance_of,
    fresh,
    outbox_of,
    transactions_of,
    with_settings,
)
from tests.factories import make_customer, make_subscription, make_tariff

ACTOR = Actor(user_id=None, role=Role.customer)
PRICE = 60000


async def _debtor(session, *, balance: int = -5000) -> tuple[int, int]:
    """A customer blocked for debt (the promised payment lifts the block)."""
    _, customer = await make_customer(session, with_user=False, balance=balance)
    tariff = await make_tariff(session, price=PRICE, billing_period=BillingPeriod.monthly)
    sub = await make_subscription(
        session, customer, tariff, status=SubscriptionStatus.blocked, started_on=date(2026, 1, 1)
    )
    await session.commit()
    return customer.id, sub.id


async def _take(session, settings, customer_id: int, expires_at: datetime) -> PromisedPayment:
    granted_at = expires_at - timedelta(days=settings.pp_term_days)
    taken = await promised.take(session, settings, customer_id, granted_at, ACTOR)
    await session.commit()
    pp = await fresh(session, PromisedPayment, taken.promised_payment.id)
    assert pp.expires_at == expires_at
    return pp


async def _count(session, kind: str) -> int:
    session.expire_all()
    return int(
        await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == kind)
        )
        or 0
    )


async def test_the_worker_expires_a_promised_payment_when_its_term_ends(
    resources, session, settings
):
    now = utcnow()
    late_id, late_sub = await _debtor(session)
    late = await _take(session, settings, late_id, now - timedelta(minutes=1))
    soon_id, soon_sub = await _debtor(session)
    soon = await _take(session, settings, soon_id, now + timedelta(hours=2))
    assert (await fresh(session, Subscription, late_sub)).status is SubscriptionStatus.active

    done = await tasks.expire_promised_payments(resources, now)

    assert done == 2  # one expiry, one reminder
    pp = await fresh(session, PromisedPayment, late.id)
    assert pp.status is PromisedPaymentStatus.expired and pp.resolved_at == now
    [reversal] = [
        r
        for r in await transactions_of(session, late_id)
        if r.reason is TransactionReason.promised_payment_reversal
    ]
    assert reversal.amount == -(late.amount + late.fee)
    assert await balance_of(session, late_id) == -5000
    # still in debt: blocked at once, as the daily run would
    assert (await fresh(session, Subscription, late_sub)).status is SubscriptionStatus.blocked
    [blocked] = await outbox_of(session, "subscription.blocked")
    assert blocked.payload["customer_id"] == late_id
    assert blocked.payload["subscription_id"] == late_sub
    # the other one is not due: only reminded, its service stays on
    other = await fresh(session, PromisedPayment, soon.id)
    assert other.status is PromisedPaymentStatus.active and other.reminded_at == now
    assert (await fresh(session, Subscription, soon_sub)).status is SubscriptionStatus.active

    assert await tasks.expire_promised_payments(resources, now + timedelta(minutes=5)) == 0
    assert await _count(session, "promised_payment.expired") == 1
    await assert_ledger_invariant(session)


async def test_a_customer_who_can_carry_the_reversal_is_not_blocked(resources, session, settings):
    now = utcnow()
    customer_id, sub_id = await _debtor(session)
    pp = await _take(session, settings, customer_id, now - timedelta(minutes=1))
    res = with_settings(resources, block_threshold=100_000)

    await tasks.expire_promised_payments(res, now)

    assert (await fresh(session, PromisedPayment, pp.id)).status is PromisedPaymentStatus.expired
    assert (await fresh(session, Subscription, sub_id)).status is SubscriptionStatus.active
    assert await _count(session, "subscription.blocked") == 0


async def test_two_workers_at_once_expire_it_once(resources, session, settings):
    now = utcnow()
    ids = [await _debtor(session) for _ in range(3)]
    for customer_id, _ in ids:
        await _take(session, settings, customer_id, now - timedelta(minutes=1))

    results = await asyncio.gather(
        tasks.expire_promised_payments(resources, now),
        tasks.expire_promised_payments(resources, now),
    )

    assert sum(results) == 3
    assert await _count(session, "promised_payment.expired") == 3
    assert await _count(session, "subscription.blocked") == 3
    for customer_id, _ in ids:
        reversals = [
            r
            for r in await transactions_of(session, customer_id)
            if r.reason is TransactionReason.promised_payment_reversal
        ]
        assert len(reversals) == 1
        assert await balance_of(session, customer_id) == -5000
    await assert_ledger_invariant(session)


async def test_the_worker_role_runs_the_expiry(resources, session, settings, monkeypatch):
    assert tasks.run_promised_expiry in default_roles(settings, with_bot=False)
    assert tasks.run_promised_expiry not in default_roles(
        settings.model_copy(update={"run_billing_scheduler": False}), with_bot=False
    )
    customer_id, _ = await _debtor(session)
    pp = await _take(session, settings, customer_id, utcnow() - timedelta(minutes=1))
    monkeypatch.setattr(tasks, "PROMISED_EXPIRY_INTERVAL_S", 0.05)
    stop = asyncio.Event()
    role = asyncio.create_task(tasks.run_promised_expiry(resources, stop))
    try:
        for _ in range(200):
            if (await fresh(session, PromisedPayment, pp.id)).status is not (
                PromisedPaymentStatus.active
            ):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(role, 10)
    assert (await fresh(session, PromisedPayment, pp.id)).status is PromisedPaymentStatus.expired


async def test_a_back_dated_run_expires_by_its_own_day(resources, session, settings):
    customer_id, sub_id = await _debtor(session)
    expires = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    pp = await _take(session, settings, customer_id, expires)

    # the 18th, run weeks later: the term had not ended on the 18th
    report = await billing_run(resources, date(2026, 11, 18))
    assert report.steps["promised_payments"] == 0
    pp = await fresh(session, PromisedPayment, pp.id)
    assert pp.status is PromisedPaymentStatus.active and pp.reminded_at is None

    # the 20th catches up the 19th (reminded that day) and expires it on the 20th
    report = await billing_run(resources, date(2026, 11, 20))
    assert report.days_run == [date(2026, 11, 19), date(2026, 11, 20)]
    pp = await fresh(session, PromisedPayment, pp.id)
    end_19 = datetime(2026, 11, 19, 20, 59, 59, 999999, tzinfo=UTC)  # Moscow's midnight
    end_20 = datetime(2026, 11, 20, 20, 59, 59, 999999, tzinfo=UTC)
    assert pp.reminded_at == end_19
    assert pp.status is PromisedPaymentStatus.expired and pp.resolved_at == end_20
    assert (await fresh(session, Subscription, sub_id)).status is SubscriptionStatus.blocked
    [event] = await outbox_of(session, "subscription.blocked")
    assert event.payload["day"] == "2026-11-20"
