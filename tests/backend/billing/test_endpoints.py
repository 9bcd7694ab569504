"""Customer billing reads: balance, transactions, subscription."""

from __future__ import annotations

import calendar
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import event

from backend.billing import ledger
from backend.clock import business_today
from backend.models import BillingPeriod, Role, SubscriptionStatus, TransactionReason
from tests.factories import make_customer, make_subscription, make_tariff

BALANCE = "/api/v1/billing/balance"
TRANSACTIONS = "/api/v1/billing/transactions"
SUBSCRIPTION = "/api/v1/billing/subscription"


@contextmanager
def count_statements(engine):
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


# --- balance --------------------------------------------------------------------------------


async def test_balance_without_subscription(client, as_customer):
    _, headers = await as_customer(balance=35000)

    r = await client.get(BALANCE, headers=headers)

    assert r.status_code == 200, r.text
    assert r.json() == {"amount": 35000, "currency": "RUB", "display": "350.00", "days_left": None}


async def test_balance_days_left_monthly(client, session, settings, as_customer):
    customer, headers = await as_customer(balance=35000)
    tariff = await make_tariff(session, price=70000)
    await make_subscription(session, customer, tariff)
    await session.commit()

    r = await client.get(BALANCE, headers=headers)

    today = business_today(settings)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    assert r.status_code == 200, r.text
    assert r.json()["days_left"] == 35000 * days_in_month // 70000
    assert r.json()["days_left"] in (14, 15)


async def test_balance_days_left_daily(client, session, as_customer):
    customer, headers = await as_customer(balance=35000)
    tariff = await make_tariff(session, price=5000, billing_period=BillingPeriod.daily)
    await make_subscription(session, customer, tariff)
    await session.commit()

    r = await client.get(BALANCE, headers=headers)

    assert r.json()["days_left"] == 7


async def test_balance_uses_only_the_active_subscription(client, session, as_customer):
    customer, headers = await as_customer(balance=35000)
    current = await make_tariff(session, price=5000, billing_period=BillingPeriod.daily)
    await make_subscription(session, customer, current)
    # newer rows that must not count: an ended subscription and a blocked one
    ended = await make_tariff(session, price=1000, billing_period=BillingPeriod.daily)
    await make_subscription(session, customer, ended, ended_on=date.today() - timedelta(days=1))
    blocked = await make_tariff(session, price=100, billing_period=BillingPeriod.daily)
    await make_subscription(session, customer, blocked, status=SubscriptionStatus.blocked)
    await session.commit()

    r = await client.get(BALANCE, headers=headers)

    assert r.json()["days_left"] == 7


async def test_balance_suspended_subscription_has_no_days_left(client, session, as_customer):
    customer, headers = await as_customer(balance=-12050)
    tariff = await make_tariff(session, price=70000)
    await make_subscription(session, customer, tariff, status=SubscriptionStatus.suspended)
    await session.commit()

    r = await client.get(BALANCE, headers=headers)

    assert r.json() == {
        "amount": -12050,
        "currency": "RUB",
        "display": "-120.50",
        "days_left": None,
    }


async def test_balance_negative_with_active_subscription_is_zero_days(client, session, as_customer):
    customer, headers = await as_customer(balance=-100)
    tariff = await make_tariff(session, price=70000)
    await make_subscription(session, customer, tariff)
    await session.commit()

    r = await client.get(BALANCE, headers=headers)

    assert r.json()["days_left"] == 0


async def test_balance_is_one_driver_query(client, session, resources, as_customer):
    """The hot endpoint bypasses the ORM session: one statement on the driver, none through
    SQLAlchemy's execution (so no BEGIN/COMMIT either)."""
    customer, headers = await as_customer(balance=35000)
    tariff = await make_tariff(session, price=70000)
    await make_subscription(session, customer, tariff)
    await session.commit()
    await client.get(BALANCE, headers=headers)  # warm caches

    with count_statements(resources.engine) as statements:
        r = await client.get(BALANCE, headers=headers)

    assert r.status_code == 200
    assert r.json()["amount"] == 35000
    assert statements == []


async def test_fast_balance_query_matches_the_orm_query(session, resources):
    """balance_row_fast (driver SQL) and balance_row (SQLAlchemy) agree in every case."""
    from backend.billing import repository

    monthly = await make_tariff(session, price=70000)
    daily = await make_tariff(session, price=2500, billing_period=BillingPeriod.daily)
    _, bare = await make_customer(session, with_user=False, balance=100)
    _, active = await make_customer(session, with_user=False, balance=35000)
    await make_subscription(session, active, monthly)
    _, frozen = await make_customer(session, with_user=False, balance=-500)
    await make_subscription(session, frozen, monthly, status=SubscriptionStatus.suspended)
    _, two = await make_customer(session, with_user=False, balance=1)
    await make_subscription(session, two, monthly)
    await make_subscription(session, two, daily)
    await session.commit()
    for customer_id in (bare.id, active.id, frozen.id, two.id, 999999):
        orm = await repository.balance_row(session, customer_id)
        fast = await repository.balance_row_fast(resources.engine, customer_id)
        assert fast == orm, customer_id


async def test_balance_reflects_a_new_posting(client, session, as_customer):
    customer, headers = await as_customer(balance=35000)
    await ledger.post(
        session, customer_id=customer.id, amount=-5000, reason=TransactionReason.charge
    )
    await session.commit()

    r = await client.get(BALANCE, headers=headers)

    assert r.json()["amount"] == 30000


async def test_billing_needs_a_customer(client, as_staff):
    _, staff_headers = await as_staff(Role.admin)
    for path in (BALANCE, TRANSACTIONS, SUBSCRIPTION):
        assert (await client.get(path)).status_code == 401
        r = await client.get(path, headers=staff_headers)
        assert r.status_code == 403, path
        assert r.json()["error"] == "forbidden"


# --- transactions ---------------------------------------------------------------------------


async def test_transactions_newest_first_with_cursor(client, session, as_customer):
    customer, headers = await as_customer(balance=10000)
    other, _ = await as_customer(balance=99999)
    for i, amount in enumerate((-1000, 2500, -300, 700)):
        await ledger.post(
            session,
            customer_id=customer.id,
            amount=amount,
            reason=TransactionReason.charge if amount < 0 else TransactionReason.topup,
            description=f"step {i}",
        )
    await session.commit()

    first = await client.get(TRANSACTIONS, params={"limit": 3}, headers=headers)

    assert first.status_code == 200, first.text
    page = first.json()
    assert [t["amount"] for t in page["items"]] == [700, -300, 2500]
    assert [t["balance_after"] for t in page["items"]] == [11900, 11200, 11500]
    assert page["items"][0]["reason"] == "topup"
    assert page["items"][1]["reason"] == "charge"
    assert page["items"][0]["description"] == "step 3"
    assert page["items"][0]["currency"] == "RUB"
    assert page["items"][0]["created_at"]
    assert page["next_before_id"] == page["items"][-1]["id"]

    second = await client.get(
        TRANSACTIONS, params={"limit": 3, "before_id": page["next_before_id"]}, headers=headers
    )
    rest = second.json()
    assert [t["amount"] for t in rest["items"]] == [-1000, 10000]
    assert rest["items"][-1]["reason"] == "opening_balance"
    assert rest["next_before_id"] is None
    assert 99999 not in [t["amount"] for t in page["items"] + rest["items"]]
    assert other.id != customer.id


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"before_id": 0}, {"before_id": "a"}]
)
async def test_transactions_bad_paging(client, as_customer, params):
    _, headers = await as_customer()

    r = await client.get(TRANSACTIONS, params=params, headers=headers)

    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"


# --- subscription ---------------------------------------------------------------------------


async def test_subscription(client, session, as_customer):
    customer, headers = await as_customer()
    tariff = await make_tariff(
        session, name="Дом 300", speed_down_mbps=300, speed_up_mbps=150, price=70000
    )
    sub = await make_subscription(session, customer, tariff)
    await session.commit()

    r = await client.get(SUBSCRIPTION, headers=headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == sub.id
    assert body["tariff_name"] == "Дом 300"
    assert body["speed_down_mbps"] == 300
    assert body["speed_up_mbps"] == 150
    assert body["price"] == 70000
    assert body["currency"] == "RUB"
    assert body["billing_period"] == "monthly"
    assert body["status"] == "active"
    assert body["period_start"] == sub.period_start.isoformat()
    assert body["period_end"] == sub.period_end.isoformat()


async def test_subscription_suspended_is_shown(client, session, as_customer):
    customer, headers = await as_customer()
    tariff = await make_tariff(session)
    await make_subscription(session, customer, tariff, status=SubscriptionStatus.suspended)
    await session.commit()

    r = await client.get(SUBSCRIPTION, headers=headers)

    assert r.json()["status"] == "suspended"


async def test_no_subscription(client, session, as_customer):
    customer, headers = await as_customer()
    other, _ = await as_customer()
    tariff = await make_tariff(session)
    await make_subscription(session, other, tariff)  # someone else's
    await make_subscription(session, customer, tariff, ended_on=date.today())  # ended
    await session.commit()

    r = await client.get(SUBSCRIPTION, headers=headers)

    assert r.status_code == 404
    assert r.json()["error"] == "no_subscription"
