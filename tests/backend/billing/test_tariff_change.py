"""Tariff change: quote, confirmation, scheduled downgrades, cancellation and every refusal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from backend.audit.service import Actor
from backend.billing import adjustments, errors, ledger, promised, rules, suspensions, tariff_change
from backend.billing.service import NoSubscription
from backend.billing.tasks import PRE_CHARGE_STEPS, billing_run
from backend.clock import business_today
from backend.errors import AppError, Conflict, ValidationFailed
from backend.i18n import Catalog
from backend.models import (
    PromisedPayment,
    Role,
    Subscription,
    SubscriptionStatus,
    TransactionReason,
)
from tests.backend.billing.conftest import (
    assert_ledger_invariant,
    audit_of,
    balance_of,
    fresh,
    money_snapshot,
    outbox_of,
    transactions_of,
    with_settings,
)
from tests.factories import make_customer, make_subscription, make_tariff

TODAY = date(2026, 11, 17)  # November: 30 days, 14 left including today
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
ACTOR = Actor(user_id=None, role=Role.customer)
QUOTE = "/api/v1/billing/tariff-change/quote"
CHANGE = "/api/v1/billing/tariff-change"


async def _arrange(session, *, old_price=60000, new_price=90000, balance=100000, **sub_values):
    _, customer = await make_customer(session, with_user=False, balance=balance)
    old = await make_tariff(session, price=old_price)
    new = await make_tariff(session, price=new_price)
    values = {"started_on": date(2026, 1, 1)} | sub_values
    sub = await make_subscription(session, customer, old, **values)
    await session.commit()
    return customer, sub, old, new


async def _post_days_charge(session, sub, price, day=TODAY):
    """What the billing run posted this morning at the old tariff."""
    await ledger.post(
        session,
        customer_id=sub.customer_id,
        amount=-rules.daily_share(price, day),
        reason=TransactionReason.charge,
        reference_kind="charge",
        reference=f"sub:{sub.id}:{day.isoformat()}",
    )
    await session.commit()


async def _reload(session, sub) -> Subscription:
    return await fresh(session, Subscription, sub.id)


# --- quotes ---------------------------------------------------------------------------------


async def test_upgrade_quote_is_now_with_the_proration_for_the_rest_of_the_month(session, settings):
    customer, _, old, new = await _arrange(session)

    q = await tariff_change.quote(session, settings, customer.id, new.id, TODAY)

    assert q.kind == "upgrade" and q.effective == "now" and q.effective_on == TODAY
    assert q.can_choose is True and q.next_period_on == date(2026, 12, 1)
    assert q.days_remaining == 14
    assert q.proration == rules.shares_between(90000, TODAY, date(2026, 11, 30)) - (
        rules.shares_between(60000, TODAY, date(2026, 11, 30))
    )
    assert q.proration == 14000
    # today's billing run has not been past it yet: it charges today at the new tariff itself
    assert q.charge_now == 0 and q.total_now == 0
    assert q.new_monthly_price == 90000 and q.fee == 0
    assert q.current.id == old.id and q.target.id == new.id


async def test_downgrade_and_same_price_wait_for_the_next_period(session, settings):
    customer, _, _, cheaper = await _arrange(session, new_price=40000)
    same = await make_tariff(session, price=60000)
    await session.commit()

    down = await tariff_change.quote(session, settings, customer.id, cheaper.id, TODAY)
    level = await tariff_change.quote(session, settings, customer.id, same.id, TODAY)

    assert (down.kind, down.effective, down.effective_on) == (
        "downgrade",
        "next_period",
        date(2026, 12, 1),
    )
    assert down.proration == down.charge_now == down.total_now == 0
    assert down.can_choose is False
    assert (level.kind, level.effective) == ("same_price", "next_period")


async def test_an_upgrade_may_wait_but_a_downgrade_cannot_be_now(session, settings):
    customer, _, _, new = await _arrange(session)
    cheaper = await make_tariff(session, price=100)
    await session.commit()

    later = await tariff_change.quote(
        session, settings, customer.id, new.id, TODAY, effective="next_period"
    )
    assert later.effective == "next_period" and later.charge_now == 0 and later.proration == 0

    with pytest.raises(tariff_change.ChangeNowNotAllowed):
        await tariff_change.quote(session, settings, customer.id, cheaper.id, TODAY, "now")


# --- confirmation ---------------------------------------------------------------------------


async def test_upgrade_now_after_the_days_charge_posts_todays_difference(
    session, settings, resources
):
    customer, sub, _, new = await _arrange(session)
    await _post_days_charge(session, sub, 60000)
    settings = settings.model_copy(update={"tariff_change_fee": 5000})

    result = await tariff_change.confirm(session, settings, customer.id, new.id, TODAY, NOW, ACTOR)
    await session.commit()

    assert result.status == "changed" and result.tariff_id == new.id
    assert result.quote.charge_now == 3000 - 2000
    assert result.charged == 1000 + 5000
    rows = await transactions_of(session, customer.id)
    change_rows = [r for r in rows if r.reference_kind == "tariff_change"]
    assert [(r.amount, r.reason, r.reference) for r in change_rows] == [
        (-1000, TransactionReason.fee, f"tariff-change:{sub.id}:{TODAY.isoformat()}:{new.id}"),
        (-5000, TransactionReason.fee, f"tariff-change-fee:{sub.id}:{TODAY.isoformat()}:{new.id}"),
    ]
    sub = await _reload(session, sub)
    assert sub.tariff_id == new.id and sub.last_tariff_change_on == TODAY
    assert sub.scheduled_tariff_id is None
    [event] = await outbox_of(session, "tariff.changed")
    assert event.payload["to_tariff_id"] == new.id and event.payload["customer_id"] == customer.id
    [entry] = await audit_of(session, "billing.tariff_changed")
    assert entry.details["charge_now"] == 1000 and entry.object_id == str(sub.id)

    # the rest of the month follows at the new tariff: November from the 17th costs exactly
    # the new shares (the old share of the 17th + today's difference + new daily shares)
    for offset in range(1, 14):
        await billing_run(resources, TODAY + timedelta(days=offset))
    charges = [
        r
        for r in await transactions_of(session, customer.id)
        if r.reason in (TransactionReason.charge,) or r.reference_kind == "tariff_change"
    ]
    paid_from_17th = -sum(r.amount for r in charges) - 5000  # without the change fee
    assert paid_from_17th == rules.shares_between(90000, TODAY, date(2026, 11, 30)) == 42000
    await assert_ledger_invariant(session)


async def test_upgrade_now_before_todays_run_posts_nothing_and_the_run_charges_the_new_price(
    session, settings, resources
):
    customer, _, _, new = await _arrange(session)

    result = await tariff_change.confirm(session, settings, customer.id, new.id, TODAY, NOW, ACTOR)
    await session.commit()
    assert result.charged == 0
    await billing_run(resources, TODAY)

    rows = await transactions_of(session, customer.id)
    assert [r.amount for r in rows if r.reason is TransactionReason.charge] == [
        -rules.daily_share(90000, TODAY)
    ]


async def test_upgrade_now_in_period_start_mode_charges_the_rest_of_the_month(session, settings):
    customer, sub, _, new = await _arrange(session)
    await ledger.post(
        session,
        customer_id=customer.id,
        amount=-60000,
        reason=TransactionReason.charge,
        reference_kind="charge",
        reference=f"sub:{sub.id}:2026-11",
    )
    await session.commit()
    settings = settings.model_copy(update={"charging_mode": "period_start"})

    result = await tariff_change.confirm(session, settings, customer.id, new.id, TODAY, NOW, ACTOR)
    await session.commit()

    assert result.quote.charge_now == result.quote.proration == 14000
    assert await balance_of(session, customer.id) == 100000 - 60000 - 14000


async def test_downgrade_is_scheduled_then_applied_by_the_billing_run(
    session, settings, resources, monkeypatch
):
    customer, sub, old, cheaper = await _arrange(session, new_price=40000)
    before = await money_snapshot(session)

    result = await tariff_change.confirm(
        session, settings, customer.id, cheaper.id, TODAY, NOW, ACTOR
    )
    await session.commit()

    assert result.status == "scheduled" and result.charged == 0
    assert (result.tariff_id, result.scheduled_tariff_id) == (old.id, cheaper.id)
    assert result.scheduled_change_on == date(2026, 12, 1)
    assert await money_snapshot(session) == before
    assert len(await outbox_of(session, "tariff.change_scheduled")) == 1
    # one pending change at a time
    other = await make_tariff(session, price=30000)
    await session.commit()
    with pytest.raises(tariff_change.PendingChangeExists) as refused:
        await tariff_change.quote(session, settings, customer.id, other.id, TODAY)
    assert refused.value.extra["scheduled_tariff_id"] == cheaper.id

    fee_settings = settings.model_copy(update={"tariff_change_fee": 2500})
    assert (
        await tariff_change.apply_due_changes(session, fee_settings, date(2026, 11, 30), NOW) == 0
    )
    await session.commit()

    # on the 1st the billing run switches the tariff first and charges the new price
    monkeypatch.setitem(PRE_CHARGE_STEPS, "tariff_changes", tariff_change.apply_due_changes)
    res = with_settings(resources, tariff_change_fee=2500)
    report = await billing_run(res, date(2026, 12, 1))

    assert report.steps["tariff_changes"] == 1
    sub = await _reload(session, sub)
    assert sub.tariff_id == cheaper.id and sub.scheduled_tariff_id is None
    assert sub.scheduled_change_on is None and sub.last_tariff_change_on == date(2026, 12, 1)
    rows = await transactions_of(session, customer.id)
    assert [r.amount for r in rows if r.reason is TransactionReason.charge] == [
        -rules.daily_share(40000, date(2026, 12, 1))
    ]
    assert [r.amount for r in rows if r.reference_kind == "tariff_change"] == [-2500]
    [event] = await outbox_of(session, "tariff.changed")
    assert event.payload["from_tariff_id"] == old.id and event.payload["to_tariff_id"] == cheaper.id
    # applied once
    assert await tariff_change.apply_due_changes(session, fee_settings, date(2026, 12, 2), NOW) == 0
    await assert_ledger_invariant(session)


async def test_cancel_the_scheduled_change(session, settings):
    customer, sub, old, cheaper = await _arrange(session, new_price=40000)
    await tariff_change.confirm(session, settings, customer.id, cheaper.id, TODAY, NOW, ACTOR)
    await session.commit()

    cancelled = await tariff_change.cancel_scheduled(session, customer.id, NOW, ACTOR)
    await session.commit()

    assert cancelled.cancelled_tariff_id == cheaper.id and cancelled.was_due_on == date(2026, 12, 1)
    sub = await _reload(session, sub)
    assert sub.scheduled_tariff_id is None and sub.scheduled_change_on is None
    assert await tariff_change.apply_due_changes(session, settings, date(2026, 12, 1), NOW) == 0
    assert (await _reload(session, sub)).tariff_id == old.id
    assert len(await audit_of(session, "billing.tariff_change_cancelled")) == 1
    with pytest.raises(tariff_change.NoPendingChange):
        await tariff_change.cancel_scheduled(session, customer.id, NOW, ACTOR)


# --- refusals -------------------------------------------------------------------------------


async def _refusal(session, settings, customer_id, tariff_id) -> AppError:
    before = await money_snapshot(session)
    with pytest.raises(AppError) as quoted:
        await tariff_change.quote(session, settings, customer_id, tariff_id, TODAY)
    with pytest.raises(AppError) as confirmed:
        await tariff_change.confirm(session, settings, customer_id, tariff_id, TODAY, NOW, ACTOR)
    # commit, not roll back: anything the refused call wrote would show up below
    await session.commit()
    assert quoted.value.code == confirmed.value.code
    assert await money_snapshot(session) == before, "a refusal moves no money"
    return confirmed.value


async def test_refusals_have_clear_codes_and_move_no_money(session, settings):
    customer, sub, old, new = await _arrange(session)

    assert (await _refusal(session, settings, customer.id, old.id)).code == "same_tariff"
    assert (await _refusal(session, settings, customer.id, 10**9)).code == "tariff_not_found"

    withdrawn = await make_tariff(session, price=99000, is_active=False)
    await session.commit()
    assert (await _refusal(session, settings, customer.id, withdrawn.id)).code == "tariff_inactive"

    matrix = settings.model_copy(update={"tariff_transitions": {str(old.id): [withdrawn.id]}})
    assert (await _refusal(session, matrix, customer.id, new.id)).code == "tariff_not_allowed"
    no_row = settings.model_copy(update={"tariff_transitions": {"999999": [new.id]}})
    assert (await _refusal(session, no_row, customer.id, new.id)).code == "tariff_not_allowed"
    allowed = settings.model_copy(update={"tariff_transitions": {str(old.id): [new.id]}})
    assert (await tariff_change.quote(session, allowed, customer.id, new.id, TODAY)).kind == (
        "upgrade"
    )

    sub.last_tariff_change_on = TODAY - timedelta(days=10)
    await session.commit()
    gap = settings.model_copy(update={"tariff_min_days_between_changes": 30})
    too_soon = await _refusal(session, gap, customer.id, new.id)
    assert too_soon.code == "too_soon"
    assert too_soon.extra["available_from"] == TODAY + timedelta(days=20)
    assert (await tariff_change.quote(session, settings, customer.id, new.id, TODAY)).kind == (
        "upgrade"
    )

    session.add(
        PromisedPayment(customer_id=customer.id, amount=5000, expires_at=NOW + timedelta(days=2))
    )
    await session.commit()
    locked = await _refusal(session, settings, customer.id, new.id)
    assert locked.code == "locked_during_promised_payment"
    unlocked = settings.model_copy(update={"tariff_locked_during_pp": False})
    await tariff_change.quote(session, unlocked, customer.id, new.id, TODAY)


async def test_blocked_suspended_and_missing_subscriptions_are_refused(session, settings):
    customer, sub, _, new = await _arrange(session, balance=-4500)
    sub.status = SubscriptionStatus.blocked
    await session.commit()
    blocked = await _refusal(session, settings, customer.id, new.id)
    assert blocked.code == "subscription_blocked" and blocked.extra["amount_to_pay"] == 4500

    sub.status = SubscriptionStatus.suspended
    await session.commit()
    assert (await _refusal(session, settings, customer.id, new.id)).code == (
        "subscription_suspended"
    )

    _, lonely = await make_customer(session, with_user=False)
    await session.commit()
    with pytest.raises(NoSubscription):
        await tariff_change.quote(session, settings, lonely.id, new.id, TODAY)
    with pytest.raises(NoSubscription):
        await tariff_change.confirm(session, settings, lonely.id, new.id, TODAY, NOW, ACTOR)


# --- API ------------------------------------------------------------------------------------


async def test_customer_quotes_confirms_and_cancels_through_the_api(
    client, session, settings, as_customer
):
    customer, headers = await as_customer(balance=100000)
    old = await make_tariff(session, price=60000)
    cheaper = await make_tariff(session, price=45000)
    await make_subscription(session, customer, old)
    await session.commit()

    q = await client.post(QUOTE, json={"tariff_id": cheaper.id}, headers=headers)
    assert q.status_code == 200, q.text
    assert q.json()["kind"] == "downgrade"
    assert q.json()["effective_on"] == rules.next_month_start(business_today(settings)).isoformat()

    r = await client.post(CHANGE, json={"tariff_id": cheaper.id}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "scheduled"

    again = await client.post(CHANGE, json={"tariff_id": cheaper.id}, headers=headers)
    assert again.status_code == 409
    assert again.json()["error"] == "pending_change_exists"
    assert again.json()["scheduled_tariff_id"] == cheaper.id  # extras reach the client

    d = await client.delete(CHANGE, headers=headers)
    assert d.status_code == 200, d.text
    assert d.json()["cancelled_tariff_id"] == cheaper.id
    d2 = await client.delete(CHANGE, headers=headers)
    assert d2.status_code == 409 and d2.json()["error"] == "no_pending_change"


async def test_api_refusals_and_bad_input(client, session, as_customer):
    customer, headers = await as_customer(balance=100000)
    old = await make_tariff(session, price=60000)
    await make_subscription(session, customer, old)
    await session.commit()

    same = await client.post(CHANGE, json={"tariff_id": old.id}, headers=headers)
    assert same.status_code == 409
    assert same.json() == {"error": "same_tariff", "detail": "this is already the current tariff"}
    unknown = await client.post(QUOTE, json={"tariff_id": 987654}, headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error"] == "tariff_not_found"
    for body in ({}, {"tariff_id": "1"}, {"tariff_id": 0}, {"tariff_id": 1, "x": 1}):
        bad = await client.post(QUOTE, json=body, headers=headers)
        assert bad.status_code == 422, body
    bad_when = await client.post(QUOTE, json={"tariff_id": 1, "effective": "soon"}, headers=headers)
    assert bad_when.status_code == 422


async def test_staff_change_a_customers_tariff_and_customers_cannot_use_staff_paths(
    client, session, as_customer, as_staff
):
    customer, customer_headers = await as_customer(balance=100000)
    old = await make_tariff(session, price=60000)
    new = await make_tariff(session, price=80000)
    await make_subscription(session, customer, old)
    await session.commit()
    agent, agent_headers = await as_staff(Role.agent)
    path = f"/api/v1/customers/{customer.id}/tariff-change"

    forbidden = await client.post(path, json={"tariff_id": new.id}, headers=customer_headers)
    assert forbidden.status_code == 403
    missing = await client.post(
        "/api/v1/customers/999999/tariff-change/quote",
        json={"tariff_id": new.id},
        headers=agent_headers,
    )
    assert missing.status_code == 404

    r = await client.post(path, json={"tariff_id": new.id}, headers=agent_headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "changed"
    [entry] = await audit_of(session, "billing.tariff_changed")
    assert entry.actor_user_id == agent.id


# --- texts ----------------------------------------------------------------------------------


def test_every_refusal_code_has_a_text_in_both_locales():
    """The bot and the widget phrase a refusal by `error-<code>`."""
    catalog = Catalog()
    codes = {
        value.code
        for module in (tariff_change, promised, suspensions, adjustments, errors)
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Conflict | ValidationFailed)
        and value.__module__ == module.__name__
        and value.code not in ("pp_refused",)  # the base class, never raised
    } | {"tariff_not_found"}
    assert len(codes) >= 25
    for code in sorted(codes):
        key = "error-" + code.replace("_", "-")
        assert catalog.bundles["ru"].has_message(key), key
        assert catalog.bundles["en"].has_message(key), key
