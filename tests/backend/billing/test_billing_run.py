"""The daily billing run on PostgreSQL (and its portable path on SQLite)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from sqlalchemy import func, select

from backend.billing import rules
from backend.billing.tasks import SimulatedCrash, billing_run
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from backend.migrate import upgrade
from backend.models import (
    Account,
    BillingPeriod,
    BillingRun,
    BillingRunStatus,
    Invoice,
    InvoiceStatus,
    OutboxMessage,
    Subscription,
    SubscriptionStatus,
    Transaction,
)
from tests.backend.billing.conftest import assert_ledger_invariant, with_settings
from tests.factories import make_customer, make_subscription, make_tariff

DAY = date(2026, 11, 17)  # a 30-day month


async def _customers(
    session, n: int, *, price: int = 60000, balance: int = 100000, period=BillingPeriod.monthly
):
    tariff = await make_tariff(session, price=price, billing_period=period)
    made = []
    for _ in range(n):
        _, customer = await make_customer(session, with_user=False, balance=balance)
        sub = await make_subscription(session, customer, tariff, started_on=date(2026, 1, 1))
        made.append((customer, sub))
    await session.commit()
    return tariff, made


async def _balances(session) -> dict[int, int]:
    rows = (await session.execute(select(Account.customer_id, Account.balance))).all()
    return {c: b for c, b in rows}


async def test_charges_each_subscription_once_per_day(resources, session):
    _, made = await _customers(session, 5, price=60000)
    report = await billing_run(with_settings(resources, billing_chunk_size=2), DAY)
    share = rules.daily_share(60000, DAY)
    assert share == 2000
    assert report.charged == 5 and report.charged_total == 5 * share
    again = await billing_run(with_settings(resources, billing_chunk_size=2), DAY)
    assert again.charged == 0 and again.charged_total == 0
    balances = await _balances(session)
    for customer, _ in made:
        assert balances[customer.id] == 100000 - share
    await assert_ledger_invariant(session)
    run = await session.scalar(select(BillingRun).where(BillingRun.run_date == DAY))
    assert run.status is BillingRunStatus.finished
    # the next day is charged again, and the month's shares add up to the fee exactly
    assert sum(rules.daily_share(60000, date(2026, 11, d)) for d in range(1, 31)) == 60000


async def test_killed_halfway_then_resumed_charges_once(resources, session):
    _, made = await _customers(session, 7)
    res = with_settings(resources, billing_chunk_size=3)
    with pytest.raises(SimulatedCrash):
        await billing_run(res, DAY, crash_after_chunks=1)
    charged = await session.scalar(
        select(func.count()).select_from(Transaction).where(Transaction.reference_kind == "charge")
    )
    assert charged == 3  # the first chunk committed, the rest did not start
    run = await session.scalar(select(BillingRun).where(BillingRun.run_date == DAY))
    assert run.status is BillingRunStatus.running and run.last_subscription_id == made[2][1].id
    report = await billing_run(res, DAY)
    assert report.resumed_from == made[2][1].id
    assert report.charged == 4
    session.expire_all()
    refs = list(
        await session.scalars(
            select(Transaction.reference).where(Transaction.reference_kind == "charge")
        )
    )
    assert len(refs) == len(set(refs)) == 7
    await assert_ledger_invariant(session)


async def test_daily_tariff_and_period_start_mode(resources, session):
    _, daily = await _customers(session, 2, price=2500, period=BillingPeriod.daily)
    await billing_run(resources, DAY)
    balances = await _balances(session)
    assert all(balances[c.id] == 100000 - 2500 for c, _ in daily)

    res = with_settings(resources, charging_mode="period_start")
    _, monthly = await _customers(session, 2, price=60000)
    first = date(2026, 12, 1)
    await billing_run(res, first)
    await billing_run(res, date(2026, 12, 2))
    await billing_run(res, first)
    balances = await _balances(session)
    # The run of the 1st first catches up Nov 18-30 (the last finished run was DAY): the
    # rest of November, prorated, then the whole December fee once, on the first.
    november_rest = rules.rest_of_month(60000, date(2026, 11, 18))
    for c, _ in monthly:
        assert balances[c.id] == 100000 - november_rest - 60000
    await assert_ledger_invariant(session)


async def test_blocks_debtors_and_skips_blocked_and_suspended(resources, session):
    tariff = await make_tariff(session, price=60000)
    _, poor = await make_customer(session, with_user=False, balance=1000)
    poor_sub = await make_subscription(session, poor, tariff, started_on=date(2026, 1, 1))
    _, frozen = await make_customer(session, with_user=False, balance=0)
    await make_subscription(
        session, frozen, tariff, started_on=date(2026, 1, 1), status=SubscriptionStatus.suspended
    )
    await session.commit()
    report = await billing_run(resources, DAY)
    assert report.charged == 1 and report.blocked == 1
    await session.refresh(poor_sub)
    assert poor_sub.status is SubscriptionStatus.blocked
    balances = await _balances(session)
    assert balances[poor.id] == 1000 - 2000
    assert balances[frozen.id] == 0
    event = await session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "subscription.blocked")
    )
    assert event.payload["customer_id"] == poor.id
    # a blocked subscription is not charged the next day
    nxt = await billing_run(resources, date(2026, 11, 18))
    assert nxt.charged == 0
    assert (await _balances(session))[poor.id] == -1000


async def test_low_balance_notice_when_three_days_left(resources, session):
    tariff = await make_tariff(session, price=60000)  # 2000 a day in November
    _, soon = await make_customer(session, with_user=False, balance=8000)  # 4 days before charge
    await make_subscription(session, soon, tariff, started_on=date(2026, 1, 1))
    _, rich = await make_customer(session, with_user=False, balance=500000)
    await make_subscription(session, rich, tariff, started_on=date(2026, 1, 1))
    await session.commit()
    report = await billing_run(resources, DAY)
    assert report.low_balance_notices == 1
    notice = await session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "billing.low_balance")
    )
    assert notice.payload == {"customer_id": soon.id, "balance": 6000, "days_left": 3}
    await billing_run(resources, DAY)  # the same day again: no second notice
    count = await session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.kind == "billing.low_balance")
    )
    assert count == 1


async def test_monthly_invoices_on_the_first(resources, session):
    tariff = await make_tariff(session, price=60000)
    _, rich = await make_customer(session, with_user=False, balance=500000)
    await make_subscription(session, rich, tariff, started_on=date(2026, 1, 1))
    _, poor = await make_customer(session, with_user=False, balance=100)
    await make_subscription(session, poor, tariff, started_on=date(2026, 1, 1))
    await session.commit()
    report = await billing_run(resources, date(2026, 12, 1))
    assert report.invoices_issued == 2
    invoices = {i.customer_id: i for i in await session.scalars(select(Invoice))}
    assert invoices[rich.id].status is InvoiceStatus.paid and invoices[rich.id].amount == 60000
    assert invoices[poor.id].status is InvoiceStatus.pending
    assert invoices[poor.id].number == f"INV-202612-{poor.id:06d}"
    again = await billing_run(resources, date(2026, 12, 1))
    assert again.invoices_issued == 0


async def test_portable_path_on_sqlite_matches(tmp_path, resources):
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}",
        redis_url=resources.settings.redis_url,
        billing_chunk_size=2,
        _env_file=None,  # type: ignore[call-arg]
    )
    engine = create_engine(settings)
    await upgrade(engine)
    res = dataclasses.replace(
        resources, settings=settings, engine=engine, sessionmaker=create_sessionmaker(engine)
    )
    try:
        async with res.sessionmaker() as s:
            tariff = await make_tariff(s, price=60000)
            daily = await make_tariff(s, price=2500, billing_period=BillingPeriod.daily)
            customers = []
            for i in range(5):
                _, c = await make_customer(s, with_user=False, balance=3000 if i == 0 else 100000)
                await make_subscription(
                    s, c, tariff if i % 2 == 0 else daily, started_on=date(2026, 1, 1)
                )
                customers.append(c)
            await s.commit()
        with pytest.raises(SimulatedCrash):
            await billing_run(res, DAY, crash_after_chunks=1)
        report = await billing_run(res, DAY)
        assert report.charged == 3
        assert (await billing_run(res, DAY)).charged == 0
        async with res.sessionmaker() as s:
            balances = await _balances(s)
            assert balances[customers[0].id] == 1000
            assert balances[customers[1].id] == 100000 - 2500
            assert balances[customers[2].id] == 100000 - 2000
            await assert_ledger_invariant(s)
            subs = list(await s.scalars(select(Subscription)))
            assert all(sub.status is SubscriptionStatus.active for sub in subs)
    finally:
        await engine.dispose()
