"""Promised payment: terms, grant, refusals, reminders, expiry, early settlement."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from backend.audit.service import Actor
from backend.billing import ledger, lifecycle, promised, tasks
from backend.billing.tasks import billing_run
from backend.clock import business_today
from backend.errors import AppError
from backend.models import (
    BillingPeriod,
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
    audit_of,
    balance_of,
    fresh,
    money_snapshot,
    outbox_of,
    transactions_of,
)
from tests.factories import make_customer, make_subscription, make_tariff

NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)  # November: 30 days
PRICE = 60000  # 2000 a day in November; 3 days = 6000
ACTOR = Actor(user_id=None, role=Role.customer)
PP = "/api/v1/billing/promised-payment"


async def _debtor(
    session,
    *,
    balance=-5000,
    status=SubscriptionStatus.blocked,
    price=PRICE,
    period=BillingPeriod.monthly,
):
    _, customer = await make_customer(session, with_user=False, balance=balance)
    tariff = await make_tariff(session, price=price, billing_period=period)
    sub = await make_subscription(
        session, customer, tariff, status=status, started_on=date(2026, 1, 1)
    )
    await session.commit()
    return customer.id, sub.id


async def _pay(session, settings, customer_id, amount, now, ref="p1"):
    """A real top-up, as the payment webhook posts it."""
    await ledger.post(
        session,
        customer_id=customer_id,
        amount=amount,
        reason=TransactionReason.topup,
        reference_kind="test-payment",
        reference=f"{customer_id}:{ref}",
    )
    effects = await lifecycle.after_credit(session, settings, customer_id, amount, now)
    await session.commit()
    return effects


async def _refused(session, settings, customer_id, now) -> AppError:
    """The terms say no, taking raises the same code, and no money moves."""
    before = await money_snapshot(session)
    terms = await promised.terms(session, settings, customer_id, now)
    with pytest.raises(AppError) as refused:
        await promised.take(session, settings, customer_id, now, ACTOR)
    await session.commit()
    assert terms.allowed is False and terms.reason == refused.value.code
    assert terms.detail
    assert await money_snapshot(session) == before, "a refusal moves no money"
    return refused.value


# --- grant ----------------------------------------------------------------------------------


async def test_a_blocked_debtor_gets_the_debt_plus_three_days_and_internet_back(session, settings):
    customer_id, sub_id = await _debtor(session, balance=-5000)

    terms = await promised.terms(session, settings, customer_id, NOW)
    assert terms.allowed is True
    assert (terms.debt, terms.daily_cost, terms.term_days) == (5000, 2000, 3)
    assert terms.amount == 5000 + 3 * 2000
    assert terms.fee == 0 and terms.total_to_repay == 11000
    assert terms.expires_at == NOW + timedelta(days=3)

    taken = await promised.take(session, settings, customer_id, NOW, ACTOR)
    await session.commit()

    pp = taken.promised_payment
    assert (pp.amount, pp.status, pp.expires_at) == (
        11000,
        PromisedPaymentStatus.active,
        NOW + timedelta(days=3),
    )
    assert taken.balance == 6000 and taken.restored_subscriptions == [sub_id]
    [credit] = [t for t in await transactions_of(session, customer_id) if t.amount == 11000]
    assert credit.reason is TransactionReason.promised_payment
    assert (credit.reference_kind, credit.reference) == ("promised_payment", f"{pp.id}:credit")
    assert (await fresh(session, Subscription, sub_id)).status is SubscriptionStatus.active
    assert len(await outbox_of(session, "promised_payment.granted")) == 1
    assert len(await outbox_of(session, "subscription.restored")) == 1
    [entry] = await audit_of(session, "billing.promised_payment_granted")
    assert entry.details["amount"] == 11000
    await assert_ledger_invariant(session)


async def test_the_credit_is_capped_at_a_monthly_fee(session, settings):
    customer_id, _ = await _debtor(session, balance=-58000)
    terms = await promised.terms(session, settings, customer_id, NOW)
    assert terms.amount == PRICE  # not 58000 + 6000

    two_months = settings.model_copy(update={"pp_cap_months": 2})
    assert (await promised.terms(session, two_months, customer_id, NOW)).amount == 64000


async def test_a_daily_tariff_costs_its_price_a_day(session, settings):
    customer_id, _ = await _debtor(session, balance=-100, price=2500, period=BillingPeriod.daily)
    terms = await promised.terms(session, settings, customer_id, NOW)
    assert terms.daily_cost == 2500 and terms.amount == 100 + 3 * 2500


# --- refusals -------------------------------------------------------------------------------


async def test_a_second_one_within_30_days_is_refused_with_the_date_it_becomes_available(
    session, settings
):
    customer_id, _ = await _debtor(session, balance=-5000)
    await promised.take(session, settings, customer_id, NOW, ACTOR)
    await session.commit()
    # a payment settles it early ...
    effects = await _pay(session, settings, customer_id, 20000, NOW + timedelta(hours=5))
    assert effects.promised_payment_settled is not None
    # ... and charges bring the customer back into debt
    await ledger.post(
        session,
        customer_id=customer_id,
        amount=-30000,
        reason=TransactionReason.charge,
        reference_kind="test-charge",
        reference="c1",
    )
    await session.commit()

    later = NOW + timedelta(days=10)
    refused = await _refused(session, settings, customer_id, later)
    assert refused.code == "pp_too_frequent"
    assert refused.extra["available_from"] == NOW + timedelta(days=30)
    terms = await promised.terms(session, settings, customer_id, later)
    assert terms.available_from == NOW + timedelta(days=30)

    after_window = NOW + timedelta(days=30, seconds=1)
    assert (await promised.terms(session, settings, customer_id, after_window)).allowed is True
    twice = settings.model_copy(update={"pp_max_per_30_days": 2})
    assert (await promised.terms(session, twice, customer_id, later)).allowed is True


async def test_one_at_a_time(session, settings):
    customer_id, _ = await _debtor(session, balance=-5000)
    await promised.take(session, settings, customer_id, NOW, ACTOR)
    await session.commit()

    refused = await _refused(session, settings, customer_id, NOW + timedelta(minutes=1))
    assert refused.code == "pp_active"
    # what it takes to settle it: the credit back on top of the 6000 balance
    assert refused.extra["amount_to_pay"] == 11000 - 6000


async def test_previous_not_repaid_blocks_until_the_debt_is_paid(session, settings):
    customer_id, _ = await _debtor(session, balance=-5000)
    await promised.take(session, settings, customer_id, NOW, ACTOR)
    await session.commit()
    expiry = NOW + timedelta(days=3)
    assert await promised.expire_and_remind(session, settings, expiry.date(), expiry) == 1
    await session.commit()
    assert await balance_of(session, customer_id) == -5000

    month_later = NOW + timedelta(days=31)
    refused = await _refused(session, settings, customer_id, month_later)
    assert refused.code == "pp_previous_not_repaid"
    assert refused.extra["amount_to_pay"] == 5000

    # a part payment is not enough; once the balance reached zero the old debt is paid
    await _pay(session, settings, customer_id, 3000, month_later, ref="part")
    assert (await _refused(session, settings, customer_id, month_later)).code == (
        "pp_previous_not_repaid"
    )
    await _pay(session, settings, customer_id, 2000, month_later, ref="rest")
    await ledger.post(
        session,
        customer_id=customer_id,
        amount=-1000,
        reason=TransactionReason.charge,
        reference_kind="test-charge",
        reference="later",
    )
    await session.commit()
    assert (await promised.terms(session, settings, customer_id, month_later)).allowed is True
    lenient = settings.model_copy(update={"pp_require_previous_repaid": False})
    assert (await promised.terms(session, lenient, customer_id, month_later)).allowed is True


async def test_debt_too_large_says_how_much_to_pay_first(session, settings):
    customer_id, _ = await _debtor(session, balance=-70000)

    refused = await _refused(session, settings, customer_id, NOW)

    assert refused.code == "pp_debt_too_large"
    assert refused.extra["amount_to_pay"] == 10000
    terms = await promised.terms(session, settings, customer_id, NOW)
    assert terms.amount_to_pay == 10000 and terms.balance == -70000


async def test_refused_when_the_capped_credit_would_not_lift_the_block(session, settings):
    customer_id, _ = await _debtor(session, balance=-100000)
    lax = settings.model_copy(update={"pp_max_debt_months": 2})

    refused = await _refused(session, lax, customer_id, NOW)

    # a one-month credit (60000) leaves 40000 of debt: the customer would stay blocked
    assert refused.code == "pp_debt_too_large" and refused.extra["amount_to_pay"] == 40000
    two_months = lax.model_copy(update={"pp_cap_months": 2})
    assert (await promised.terms(session, two_months, customer_id, NOW)).amount == 106000


async def test_other_refusals(session, settings):
    rich_id, _ = await _debtor(session, balance=10000, status=SubscriptionStatus.active)
    assert (await _refused(session, settings, rich_id, NOW)).code == "balance_sufficient"
    # 5000 does not cover 3 days (6000): a promise is possible
    poor_id, _ = await _debtor(session, balance=5000, status=SubscriptionStatus.active)
    assert (await promised.terms(session, settings, poor_id, NOW)).amount == 6000

    off = settings.model_copy(update={"pp_enabled": False})
    debtor_id, sub_id = await _debtor(session, balance=-5000)
    assert (await _refused(session, off, debtor_id, NOW)).code == "pp_disabled"

    sub = await fresh(session, Subscription, sub_id)
    sub.status = SubscriptionStatus.suspended
    await session.commit()
    assert (await _refused(session, settings, debtor_id, NOW)).code == "subscription_suspended"

    _, lonely = await make_customer(session, with_user=False, balance=-100)
    await session.commit()
    assert (await _refused(session, settings, lonely.id, NOW)).code == "no_subscription"


# --- expiry, reminders, settlement ----------------------------------------------------------


async def test_reminder_once_within_24_hours_of_expiry(session, settings):
    customer_id, _ = await _debtor(session)
    taken = await promised.take(session, settings, customer_id, NOW, ACTOR)
    await session.commit()
    expires = taken.promised_payment.expires_at

    early = expires - timedelta(hours=25)
    assert await promised.expire_and_remind(session, settings, early.date(), early) == 0
    due = expires - timedelta(hours=23)
    assert await promised.expire_and_remind(session, settings, due.date(), due) == 1
    await session.commit()
    assert await promised.expire_and_remind(session, settings, due.date(), due) == 0
    await session.commit()

    [event] = await outbox_of(session, "promised_payment.expiring")
    assert event.payload["customer_id"] == customer_id
    assert event.payload["expires_at"] == expires.isoformat()
    pp = await fresh(session, PromisedPayment, taken.promised_payment.id)
    assert pp.reminded_at == due and pp.status is PromisedPaymentStatus.active


async def test_expiry_reverses_exactly_the_credit_and_the_billing_run_blocks_the_debtor(
    session, settings, resources, monkeypatch
):
    # only this step, whatever else is registered
    monkeypatch.setattr(tasks, "PRE_CHARGE_STEPS", {})
    monkeypatch.setattr(
        tasks, "POST_CHARGE_STEPS", {"promised_payments": promised.expire_and_remind}
    )
    customer_id, sub_id = await _debtor(session, balance=-5000)
    granted_at = utcnow() - timedelta(days=4)  # expired yesterday
    taken = await promised.take(session, settings, customer_id, granted_at, ACTOR)
    await session.commit()
    assert (await fresh(session, Subscription, sub_id)).status is SubscriptionStatus.active
    credit = taken.promised_payment.amount

    report = await billing_run(resources, business_today(settings))

    assert report.steps["promised_payments"] == 1
    pp = await fresh(session, PromisedPayment, taken.promised_payment.id)
    assert pp.status is PromisedPaymentStatus.expired and pp.resolved_at is not None
    rows = await transactions_of(session, customer_id)
    [reversal] = [r for r in rows if r.reason is TransactionReason.promised_payment_reversal]
    assert reversal.amount == -credit
    assert reversal.reference == f"{pp.id}:reversal"
    charged = -sum(r.amount for r in rows if r.reason is TransactionReason.charge)
    assert await balance_of(session, customer_id) == -5000 - charged
    assert (await fresh(session, Subscription, sub_id)).status is SubscriptionStatus.blocked
    assert report.blocked == 1
    [event] = await outbox_of(session, "promised_payment.expired")
    assert event.payload["promised_payment_id"] == pp.id
    # expired once
    now = utcnow()
    assert await promised.expire_and_remind(session, settings, now.date(), now) == 0
    await assert_ledger_invariant(session)


async def test_a_payment_settles_it_early_and_nothing_expires_later(session, settings):
    customer_id, sub_id = await _debtor(session, balance=-5000)
    taken = await promised.take(session, settings, customer_id, NOW, ACTOR)
    await session.commit()
    pp_id = taken.promised_payment.id

    # 5000 on top of 6000 is not enough to carry the 11000 reversal
    short = await _pay(session, settings, customer_id, 4000, NOW + timedelta(hours=1), ref="a")
    assert short.promised_payment_settled is None
    effects = await _pay(session, settings, customer_id, 1000, NOW + timedelta(hours=2), ref="b")

    assert effects.promised_payment_settled == pp_id
    pp = await fresh(session, PromisedPayment, pp_id)
    assert pp.status is PromisedPaymentStatus.repaid
    assert await balance_of(session, customer_id) == -5000 + 11000 + 5000 - 11000
    later = NOW + timedelta(days=4)
    assert await promised.expire_and_remind(session, settings, later.date(), later) == 0
    await session.commit()
    reversals = [
        r
        for r in await transactions_of(session, customer_id)
        if r.reason is TransactionReason.promised_payment_reversal
    ]
    assert len(reversals) == 1
    assert (await fresh(session, Subscription, sub_id)).status is SubscriptionStatus.active


async def test_a_fee_is_taken_with_the_reversal(session, settings):
    customer_id, _ = await _debtor(session, balance=-5000)
    with_fee = settings.model_copy(update={"pp_fee": 1500})
    taken = await promised.take(session, with_fee, customer_id, NOW, ACTOR)
    await session.commit()
    assert taken.promised_payment.fee == 1500 and taken.balance == 6000

    expiry = NOW + timedelta(days=3)
    await promised.expire_and_remind(session, with_fee, expiry.date(), expiry)
    await session.commit()
    assert await balance_of(session, customer_id) == -5000 - 1500


# --- API ------------------------------------------------------------------------------------


async def test_terms_take_and_refusal_through_the_api(client, session, as_customer):
    customer, headers = await as_customer(balance=-5000)
    tariff = await make_tariff(session, price=PRICE)
    await make_subscription(session, customer, tariff, status=SubscriptionStatus.blocked)
    await session.commit()

    terms = await client.get(PP, headers=headers)
    assert terms.status_code == 200, terms.text
    assert terms.json()["allowed"] is True and terms.json()["debt"] == 5000

    taken = await client.post(PP, headers=headers)
    assert taken.status_code == 201, taken.text
    body = taken.json()
    assert body["promised_payment"]["amount"] == terms.json()["amount"]
    assert len(body["restored_subscriptions"]) == 1

    refusal = await client.get(PP, headers=headers)
    assert refusal.status_code == 200
    assert refusal.json()["allowed"] is False and refusal.json()["reason"] == "pp_active"
    again = await client.post(PP, headers=headers)
    assert again.status_code == 409
    assert again.json()["error"] == "pp_active"
    assert again.json()["detail"] == "a promised payment is already active"
    assert "amount_to_pay" in again.json() and "expires_at" in again.json()


async def test_concurrent_taps_give_one_credit(client, session, as_customer):
    customer, headers = await as_customer(balance=-5000)
    tariff = await make_tariff(session, price=PRICE)
    await make_subscription(session, customer, tariff, status=SubscriptionStatus.blocked)
    await session.commit()

    answers = await asyncio.gather(*(client.post(PP, headers=headers) for _ in range(5)))

    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409]
    credits = [
        t
        for t in await transactions_of(session, customer.id)
        if t.reason is TransactionReason.promised_payment
    ]
    assert len(credits) == 1
    await assert_ledger_invariant(session)


async def test_staff_grant_on_behalf_and_roles(client, session, as_customer, as_staff):
    customer, customer_headers = await as_customer(balance=-5000)
    tariff = await make_tariff(session, price=PRICE)
    await make_subscription(session, customer, tariff, status=SubscriptionStatus.blocked)
    await session.commit()
    agent, agent_headers = await as_staff(Role.agent)
    _, no_mfa = await as_staff(Role.agent, mfa=False)
    path = f"/api/v1/customers/{customer.id}/promised-payment"

    assert (await client.get(path, headers=customer_headers)).status_code == 403
    assert (await client.post(path, headers=no_mfa)).status_code == 403
    assert (
        await client.get("/api/v1/customers/999999/promised-payment", headers=agent_headers)
    ).status_code == 404
    staff_view = await client.get(path, headers=agent_headers)
    assert staff_view.status_code == 200 and staff_view.json()["allowed"] is True
    r = await client.post(path, headers=agent_headers)
    assert r.status_code == 201, r.text
    [entry] = await audit_of(session, "billing.promised_payment_granted")
    assert entry.actor_user_id == agent.id
    # staff without a customer: the customer endpoint is for customers
    assert (await client.get(PP, headers=agent_headers)).status_code == 403
