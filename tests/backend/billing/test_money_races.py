"""Billing consistency on PostgreSQL with the real billing run: a freeze during a debt block,
a payment racing the block, a tariff change / freeze / unblock racing the day's charge, the
prorated first period in period-start mode and the monthly invoice of an exact prepayment.

Races are made deterministic with two connections: one transaction holds the account's row
lock while the billing run proceeds; the test waits until the run is either waiting for that
lock or finished, and only then commits the first transaction."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import Actor
from backend.billing import ledger, lifecycle, rules, suspensions, tariff_change, tasks
from backend.billing.tasks import billing_run
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from backend.migrate import upgrade
from backend.models import (
    BillingPeriod,
    Invoice,
    InvoiceStatus,
    Role,
    Subscription,
    SubscriptionStatus,
    Transaction,
    TransactionReason,
)
from backend.state import Resources
from tests.backend.billing.conftest import (
    assert_ledger_invariant,
    balance_of,
    fresh,
    outbox_of,
    transactions_of,
    with_settings,
)
from tests.factories import make_customer, make_subscription, make_tariff

DAY = date(2026, 11, 17)  # November: 30 days, 2000 a day at 600.00 a month
NOW = datetime(2026, 11, 17, 12, 0, tzinfo=UTC)
ACTOR = Actor(user_id=None, role=Role.customer)
PRICE = 60000


async def _customer(
    session: AsyncSession,
    *,
    balance: int,
    price: int = PRICE,
    started_on: date = date(2026, 1, 1),
    status: SubscriptionStatus = SubscriptionStatus.active,
) -> tuple[int, int]:
    _, customer = await make_customer(session, with_user=False, balance=balance)
    tariff = await make_tariff(session, price=price)
    sub = await make_subscription(session, customer, tariff, started_on=started_on, status=status)
    await session.commit()
    return customer.id, sub.id


async def _pay(session: AsyncSession, settings: Settings, customer_id: int, amount: int) -> None:
    """A top-up as the payment webhook posts it (not committed: the caller decides)."""
    await ledger.post(
        session,
        customer_id=customer_id,
        amount=amount,
        reason=TransactionReason.topup,
        reference_kind="test-payment",
        reference=f"{customer_id}:{amount}",
    )
    await lifecycle.after_credit(session, settings, customer_id, amount, NOW)


async def _charge(session: AsyncSession, sub_id: int, day: date) -> int | None:
    """The day's tariff charge of the subscription (None: not charged)."""
    amount = await session.scalar(
        select(Transaction.amount).where(
            Transaction.reference_kind == "charge",
            Transaction.reference == f"sub:{sub_id}:{day.isoformat()}",
        )
    )
    return None if amount is None else -int(amount)


async def _status(session: AsyncSession, sub_id: int) -> SubscriptionStatus:
    return (await fresh(session, Subscription, sub_id)).status


async def _run_days(res: Resources, first: date, last: date) -> None:
    day = first
    while day <= last:
        await billing_run(res, day)
        day += timedelta(days=1)


async def _someone_waits_for_a_lock(res: Resources) -> bool:
    # A fresh connection each time: pg_stat_activity is a snapshot per transaction.
    async with res.engine.connect() as conn:
        waiting = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


async def _until_waiting_or_done(res: Resources, task: asyncio.Task[Any]) -> None:
    """Return once `task` waits for a row lock or has finished (a condition, not a delay)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30  # only a guard against a hung test
    while not task.done() and not await _someone_waits_for_a_lock(res):
        assert loop.time() < deadline, "the billing run neither finished nor waited for a lock"
        await asyncio.sleep(0.005)


async def _run_while_held(
    res: Resources,
    day: date,
    hold: Callable[[AsyncSession], Awaitable[object]],
) -> None:
    """`hold` runs in its own transaction that keeps its row locks while the billing run of
    `day` starts; it commits once the run waits for it (or has finished without waiting)."""
    run: asyncio.Task[Any] | None = None
    async with res.sessionmaker() as other:
        try:
            await hold(other)
            run = asyncio.create_task(billing_run(res, day))
            await _until_waiting_or_done(res, run)
            await other.commit()
        finally:
            await other.rollback()  # a failed test must not leave the lock behind
    assert run is not None
    await run


# --- 1. a freeze during a debt block ----------------------------------------------------------


async def test_payment_during_a_freeze_keeps_it_paused_and_its_end_restores(resources, session):
    settings = resources.settings
    cid, sid = await _customer(session, balance=1000)
    # booked while the balance was fine: 19..26 November (free days, so no pause fee)
    await suspensions.create(
        session, settings, cid, date(2026, 11, 19), date(2026, 11, 26), DAY, NOW, ACTOR
    )
    await session.commit()
    await billing_run(resources, DAY)  # 1000 - 2000 < 0: blocked for debt
    assert await _status(session, sid) is SubscriptionStatus.blocked
    await _run_days(resources, date(2026, 11, 18), date(2026, 11, 19))  # the freeze starts
    assert await _status(session, sid) is SubscriptionStatus.blocked

    await _pay(session, settings, cid, 10000)
    await session.commit()
    # the block lifts but the vacation goes on: no service, no tariff charges
    assert await _status(session, sid) is SubscriptionStatus.suspended
    assert await outbox_of(session, "subscription.restored") == []  # internet is not back

    await _run_days(resources, date(2026, 11, 20), date(2026, 11, 26))
    assert await _status(session, sid) is SubscriptionStatus.suspended
    for d in range(18, 27):
        assert await _charge(session, sid, date(2026, 11, d)) is None
    assert await balance_of(session, cid) == 9000

    await billing_run(resources, date(2026, 11, 27))  # the freeze is over
    assert await _status(session, sid) is SubscriptionStatus.active
    assert await _charge(session, sid, date(2026, 11, 27)) == 2000
    await assert_ledger_invariant(session)


async def test_a_covered_block_during_a_freeze_ends_with_the_freeze(resources, session):
    """A debt covered by a credit that did not pass through after_credit (a bare ledger
    posting) lifts the block without ending the pause; the day after the pause is charged."""
    settings = resources.settings
    cid, sid = await _customer(session, balance=1000)
    await suspensions.create(
        session, settings, cid, date(2026, 11, 18), date(2026, 11, 25), DAY, NOW, ACTOR
    )
    await session.commit()
    await _run_days(resources, DAY, date(2026, 11, 18))
    assert await _status(session, sid) is SubscriptionStatus.blocked
    await ledger.post(session, customer_id=cid, amount=20000, reason=TransactionReason.adjustment)
    await session.commit()
    await _run_days(resources, date(2026, 11, 19), date(2026, 11, 26))
    assert await _status(session, sid) is SubscriptionStatus.active
    assert await _charge(session, sid, date(2026, 11, 26)) == 2000
    for d in range(18, 26):
        assert await _charge(session, sid, date(2026, 11, d)) is None


# --- 2. a payment racing the block ------------------------------------------------------------


async def test_payment_committing_during_the_block_step_leaves_the_service_on(
    resources, session, monkeypatch
):
    settings = resources.settings
    cid, sid = await _customer(session, balance=1000)
    held: dict[str, Any] = {}
    paying = asyncio.Event()

    async def pay_between_charge_and_block(
        _session: AsyncSession, _settings: Settings, _day: date, _now: datetime
    ) -> int:
        # After the day's charge (balance -1000), before the block: a payment takes the
        # account lock and credits, and commits only while the block step is under way.
        other = resources.sessionmaker()
        held["session"] = other
        await _pay(other, settings, cid, 10000)
        paying.set()
        return 0

    monkeypatch.setitem(tasks.POST_CHARGE_STEPS, "test_payment", pay_between_charge_and_block)
    run = asyncio.create_task(billing_run(resources, DAY))
    try:
        await asyncio.wait_for(paying.wait(), timeout=30)
        await _until_waiting_or_done(resources, run)
        await held["session"].commit()
    finally:
        if "session" in held:
            await held["session"].close()  # a failed test must not leave the lock behind
    await run

    assert await balance_of(session, cid) == 9000
    assert await _status(session, sid) is SubscriptionStatus.active
    await assert_ledger_invariant(session)


async def test_every_run_lifts_blocks_that_are_covered(resources, session):
    covered_cid, covered = await _customer(session, balance=5000, status=SubscriptionStatus.blocked)
    _, in_debt = await _customer(session, balance=-500, status=SubscriptionStatus.blocked)
    frozen_cid, frozen = await _customer(session, balance=5000)
    await suspensions.create(
        session, resources.settings, frozen_cid, DAY, DAY + timedelta(days=9), DAY, NOW, ACTOR
    )
    await session.commit()
    (await fresh(session, Subscription, frozen)).status = SubscriptionStatus.blocked
    await session.commit()

    await billing_run(resources, DAY)

    assert await _status(session, covered) is SubscriptionStatus.active
    assert await _status(session, in_debt) is SubscriptionStatus.blocked
    assert await _status(session, frozen) is SubscriptionStatus.suspended  # block off, pause on
    restored = await outbox_of(session, "subscription.restored")
    assert [m.payload["subscription_id"] for m in restored] == [covered]
    assert restored[0].payload["customer_id"] == covered_cid
    # lifted after the day's charges: the day is not charged (as for a payment after the run)
    await billing_run(resources, DAY + timedelta(days=1))
    assert await _charge(session, covered, DAY + timedelta(days=1)) == 2000
    assert await _charge(session, frozen, DAY + timedelta(days=1)) is None


# --- 5. a tariff change, a freeze or an unblock racing the day's charge -------------------------


async def test_upgrade_committed_while_the_charge_waits_is_charged_at_the_new_tariff(
    resources, session
):
    settings = resources.settings
    cid, sid = await _customer(session, balance=100000)
    upper = await make_tariff(session, price=90000)  # 3000 a day
    await session.commit()
    confirmed: list[int] = []

    async def upgrade_now(other: AsyncSession) -> None:
        result = await tariff_change.confirm(other, settings, cid, upper.id, DAY, NOW, ACTOR)
        confirmed.append(result.charged)

    await _run_while_held(resources, DAY, upgrade_now)

    assert confirmed == [0]  # the run had not reached it: it charges today at the new tariff
    assert await _charge(session, sid, DAY) == 3000
    assert await balance_of(session, cid) == 100000 - 3000
    await assert_ledger_invariant(session)


async def test_freeze_committed_while_the_charge_waits_is_not_charged(resources, session):
    settings = resources.settings
    cid, sid = await _customer(session, balance=100000)

    async def freeze_today(other: AsyncSession) -> None:
        await suspensions.create(
            other, settings, cid, DAY, DAY + timedelta(days=9), DAY, NOW, ACTOR
        )

    await _run_while_held(resources, DAY, freeze_today)

    assert await _status(session, sid) is SubscriptionStatus.suspended
    assert await _charge(session, sid, DAY) is None  # a pause that starts today is free today
    assert await balance_of(session, cid) == 100000


async def test_unblock_committed_while_the_charge_waits_is_charged(resources, session):
    settings = resources.settings
    cid, sid = await _customer(session, balance=-1000, status=SubscriptionStatus.blocked)

    async def pay(other: AsyncSession) -> None:
        await _pay(other, settings, cid, 10000)

    await _run_while_held(resources, DAY, pay)

    assert await _status(session, sid) is SubscriptionStatus.active
    assert await _charge(session, sid, DAY) == 2000  # the service was on for the day
    assert await balance_of(session, cid) == 9000 - 2000
    await assert_ledger_invariant(session)


# --- 4. period-start mode: the first period is prorated ---------------------------------------


def _in_mode(res: Resources, mode: str) -> Resources:
    return with_settings(res, charging_mode=mode)


async def test_period_start_charges_a_mid_month_start_for_the_rest_of_the_month(resources, session):
    res = _in_mode(resources, "period_start")
    cid, sid = await _customer(session, balance=100000, started_on=DAY)
    await _run_days(res, DAY, date(2026, 11, 18))
    month = await session.scalar(
        select(Transaction.amount).where(Transaction.reference == f"sub:{sid}:2026-11")
    )
    # days 17..30 of 30: 60000 - floor(60000 * 16 / 30), the daily shares of those days
    assert month == -28000 == -rules.shares_between(PRICE, DAY, date(2026, 11, 30))
    assert await balance_of(session, cid) == 100000 - 28000
    await billing_run(res, date(2026, 12, 1))
    assert await balance_of(session, cid) == 100000 - 28000 - 60000
    await assert_ledger_invariant(session)


def test_prorated_first_period_equals_the_daily_shares_it_replaces():
    for price in (1, 99, 60000, 70001, 123457):
        for first in (date(2026, 2, 1), date(2026, 2, 15), date(2028, 2, 29), date(2026, 12, 31)):
            end = rules.month_end(first)
            prorated = rules.charge_for_day(price, BillingPeriod.monthly, first, "period_start")
            daily = sum(
                rules.daily_share(price, first + timedelta(days=i))
                for i in range((end - first).days + 1)
            )
            assert prorated == daily


# --- 6. the monthly invoice of an exact prepayment ----------------------------------------------


@pytest.mark.parametrize("mode", ["daily_share", "period_start"])
async def test_exact_prepayment_gets_a_paid_invoice_on_the_first(resources, session, mode):
    res = with_settings(resources, charging_mode=mode, generate_period_documents=False)
    exact, _ = await _customer(session, balance=PRICE)
    short, _ = await _customer(session, balance=PRICE - 1)
    await billing_run(res, date(2026, 12, 1))
    invoices = {i.customer_id: i for i in await session.scalars(select(Invoice))}
    assert invoices[exact].status is InvoiceStatus.paid
    assert invoices[exact].paid_amount == PRICE
    assert invoices[short].status is InvoiceStatus.pending


# --- the portable path (SQLite) agrees ----------------------------------------------------------


async def test_portable_path_agrees_on_proration_invoices_and_lifted_blocks(tmp_path, resources):
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
        redis_url=resources.settings.redis_url,
        charging_mode="period_start",
        billing_chunk_size=2,
        generate_period_documents=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    engine = create_engine(settings)
    await upgrade(engine)
    res = dataclasses.replace(
        resources, settings=settings, engine=engine, sessionmaker=create_sessionmaker(engine)
    )
    try:
        async with res.sessionmaker() as s:
            _, mid = await _customer(s, balance=100000, started_on=DAY)
            exact, _ = await _customer(s, balance=PRICE + 28000)
            _, covered = await _customer(s, balance=5000, status=SubscriptionStatus.blocked)
            frozen_cid, frozen = await _customer(s, balance=100000)
            await suspensions.create(
                s, settings, frozen_cid, DAY, DAY + timedelta(days=20), DAY, NOW, ACTOR
            )
            await s.commit()
            (await fresh(s, Subscription, frozen)).status = SubscriptionStatus.blocked
            await s.commit()
        await billing_run(res, DAY)
        async with res.sessionmaker() as s:
            assert await _charge_month(s, mid, "2026-11") == 28000
            assert await _status(s, covered) is SubscriptionStatus.active
            assert await _status(s, frozen) is SubscriptionStatus.suspended
        await _run_days(res, date(2026, 11, 18), date(2026, 12, 1))
        async with res.sessionmaker() as s:
            invoice = await s.scalar(select(Invoice).where(Invoice.customer_id == exact))
            assert invoice is not None and invoice.status is InvoiceStatus.paid
            await assert_ledger_invariant(s)
            assert len(await transactions_of(s, exact)) == 3  # opening, November, December
    finally:
        await engine.dispose()


async def _charge_month(session: AsyncSession, sub_id: int, month: str) -> int | None:
    amount = await session.scalar(
        select(Transaction.amount).where(
            Transaction.reference_kind == "charge", Transaction.reference == f"sub:{sub_id}:{month}"
        )
    )
    return None if amount is None else -int(amount)
