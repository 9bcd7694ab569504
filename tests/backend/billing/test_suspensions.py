"""Voluntary suspension: quote, booking, start, fee after the free days, automatic end,
self-unfreeze, cancellation, refusals, and no tariff charges while suspended."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from backend.audit.service import Actor
from backend.billing import rules, suspensions, tasks
from backend.billing.service import NoSubscription
from backend.billing.tasks import billing_run
from backend.clock import business_today
from backend.errors import AppError
from backend.models import (
    Role,
    Subscription,
    SubscriptionStatus,
    Suspension,
    SuspensionStatus,
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
)
from tests.factories import make_customer, make_subscription, make_tariff

TODAY = date(2026, 11, 17)
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
ACTOR = Actor(user_id=None, role=Role.customer)
PRICE = 60000
SUSPENSIONS = "/api/v1/billing/suspensions"


async def _customer(session, *, balance=100000, status=SubscriptionStatus.active):
    _, customer = await make_customer(session, with_user=False, balance=balance)
    tariff = await make_tariff(session, price=PRICE)
    sub = await make_subscription(
        session, customer, tariff, status=status, started_on=date(2026, 1, 1)
    )
    await session.commit()
    return customer.id, sub.id


async def _sub_status(session, sub_id) -> SubscriptionStatus:
    return (await fresh(session, Subscription, sub_id)).status


async def _create(session, settings, customer_id, start, end, today=TODAY):
    out = await suspensions.create(session, settings, customer_id, start, end, today, NOW, ACTOR)
    await session.commit()
    return out


def _day(n: int) -> date:
    return TODAY + timedelta(days=n)


# --- quote ----------------------------------------------------------------------------------


async def test_quote_counts_days_free_days_and_the_fee(session, settings):
    customer_id, _ = await _customer(session)

    q = await suspensions.quote(session, settings, customer_id, _day(1), _day(10), TODAY)

    assert (q.days, q.free_days, q.paid_days, q.fee_total) == (10, 10, 0, 0)
    assert q.free_days_left == 30 and q.resume_on == _day(11) and q.starts_now is False
    few_free = settings.model_copy(update={"freeze_free_days_per_year": 3, "freeze_daily_fee": 500})
    q2 = await suspensions.quote(session, few_free, customer_id, TODAY, _day(9), TODAY)
    assert (q2.days, q2.free_days, q2.paid_days, q2.daily_fee) == (10, 3, 7, 500)
    assert q2.fee_total == 3500 and q2.starts_now is True


async def test_free_days_are_shared_by_the_years_pauses(session, settings):
    customer_id, _ = await _customer(session)
    await _create(session, settings, customer_id, _day(1), _day(20))  # 20 free days

    q = await suspensions.quote(session, settings, customer_id, _day(25), _day(39), TODAY)

    assert (q.free_days_left, q.free_days, q.paid_days) == (10, 10, 5)
    assert q.fee_total == 5 * settings.freeze_daily_fee
    # next year starts afresh
    q_next = await suspensions.quote(
        session, settings, customer_id, date(2027, 1, 10), date(2027, 1, 20), date(2026, 12, 30)
    )
    assert q_next.free_days_left == 30


# --- refusals -------------------------------------------------------------------------------


async def _refusal(session, settings, customer_id, start, end, today=TODAY) -> AppError:
    before = await money_snapshot(session)
    with pytest.raises(AppError) as quoted:
        await suspensions.quote(session, settings, customer_id, start, end, today)
    with pytest.raises(AppError) as created:
        await suspensions.create(session, settings, customer_id, start, end, today, NOW, ACTOR)
    await session.commit()  # anything written by the refused call would stay
    assert quoted.value.code == created.value.code
    assert await money_snapshot(session) == before
    return created.value


async def test_refusals(session, settings):
    customer_id, sub_id = await _customer(session)
    s = settings

    assert (await _refusal(session, s, customer_id, _day(1), _day(6))).code == "freeze_too_short"
    too_long = await _refusal(session, s, customer_id, _day(1), _day(91))
    assert too_long.code == "freeze_too_long" and too_long.extra["max_days"] == 90
    assert (await _refusal(session, s, customer_id, _day(-1), _day(9))).code == "freeze_in_past"
    far = await _refusal(session, s, customer_id, _day(91), _day(100))
    assert far.code == "freeze_start_too_far" and far.extra["latest_start_on"] == _day(90)
    assert (await _refusal(session, s, customer_id, _day(5), _day(1))).code == (
        "freeze_invalid_dates"
    )
    # inclusive bounds are allowed
    await suspensions.quote(session, s, customer_id, _day(90), _day(96), TODAY)
    await suspensions.quote(session, s, customer_id, TODAY, _day(89), TODAY)

    booked = await _create(session, s, customer_id, _day(10), _day(20))
    for start, end in [(_day(3), _day(10)), (_day(20), _day(30)), (_day(12), _day(18))]:
        clash = await _refusal(session, s, customer_id, start, end)
        assert clash.code == "freeze_overlaps" and clash.extra["suspension_id"] == booked.id
    # adjacent is fine
    await suspensions.quote(session, s, customer_id, _day(21), _day(27), TODAY)
    await suspensions.quote(session, s, customer_id, _day(2), _day(9), TODAY)
    # a cancelled pause no longer overlaps
    await suspensions.cancel(session, customer_id, booked.id, ACTOR)
    await session.commit()
    await suspensions.quote(session, s, customer_id, _day(12), _day(18), TODAY)

    debtor_id, debtor_sub = await _customer(session, balance=-1)
    negative = await _refusal(session, s, debtor_id, _day(1), _day(10))
    assert negative.code == "freeze_negative_balance" and negative.extra["amount_to_pay"] == 1
    lenient = s.model_copy(update={"freeze_requires_non_negative_balance": False})
    await suspensions.quote(session, lenient, debtor_id, _day(1), _day(10), TODAY)

    sub = await fresh(session, Subscription, debtor_sub)
    sub.status = SubscriptionStatus.blocked
    await session.commit()
    blocked = await _refusal(session, lenient, debtor_id, _day(1), _day(10))
    assert blocked.code == "subscription_blocked"

    _, lonely = await make_customer(session, with_user=False)
    await session.commit()
    with pytest.raises(NoSubscription):
        await suspensions.quote(session, s, lonely.id, _day(1), _day(10), TODAY)
    assert await _sub_status(session, sub_id) is SubscriptionStatus.active


# --- lifecycle ------------------------------------------------------------------------------


async def test_scheduled_pause_starts_announces_its_end_and_finishes(session, settings):
    customer_id, sub_id = await _customer(session)
    booked = await _create(session, settings, customer_id, _day(1), _day(7))
    assert booked.status is SuspensionStatus.scheduled
    assert await _sub_status(session, sub_id) is SubscriptionStatus.active
    assert len(await outbox_of(session, "suspension.scheduled")) == 1
    assert len(await audit_of(session, "billing.suspension_scheduled")) == 1

    assert await suspensions.process_day(session, settings, TODAY, NOW) == 0
    await suspensions.process_day(session, settings, _day(1), NOW)
    await session.commit()
    assert (await fresh(session, Suspension, booked.id)).status is SuspensionStatus.active
    assert await _sub_status(session, sub_id) is SubscriptionStatus.suspended
    assert len(await outbox_of(session, "suspension.started")) == 1

    await suspensions.process_day(session, settings, _day(3), NOW)
    await session.commit()
    assert await outbox_of(session, "suspension.ending") == []
    for n in (4, 5, 6, 7):  # 3 days before the end, then once only
        await suspensions.process_day(session, settings, _day(n), NOW)
        await session.commit()
    [ending] = await outbox_of(session, "suspension.ending")
    assert ending.payload["resume_on"] == _day(8).isoformat()
    assert await _sub_status(session, sub_id) is SubscriptionStatus.suspended

    await suspensions.process_day(session, settings, _day(8), NOW)
    await session.commit()
    assert (await fresh(session, Suspension, booked.id)).status is SuspensionStatus.finished
    assert await _sub_status(session, sub_id) is SubscriptionStatus.active
    [ended] = await outbox_of(session, "suspension.ended")
    assert ended.payload["resumed_early"] is False
    assert await suspensions.process_day(session, settings, _day(9), NOW) == 0
    # all days were free: no money moved
    assert await balance_of(session, customer_id) == 100000


async def test_a_pause_starting_today_suspends_at_once(session, settings):
    customer_id, sub_id = await _customer(session)

    out = await _create(session, settings, customer_id, TODAY, _day(9))

    assert out.status is SuspensionStatus.active
    assert await _sub_status(session, sub_id) is SubscriptionStatus.suspended
    assert [e.kind for e in await outbox_of(session, "suspension.started")] == [
        "suspension.started"
    ]


async def test_the_daily_fee_after_the_free_days(session, settings):
    customer_id, _ = await _customer(session)
    few_free = settings.model_copy(update={"freeze_free_days_per_year": 3, "freeze_daily_fee": 500})
    booked = await _create(session, few_free, customer_id, _day(1), _day(10))
    assert (booked.free_days, booked.daily_fee) == (3, 500)

    for n in range(1, 12):
        await suspensions.process_day(session, few_free, _day(n), NOW)
        await session.commit()
    # a repeated day charges nothing more
    await suspensions.process_day(session, few_free, _day(6), NOW)
    await session.commit()

    fees = [t for t in await transactions_of(session, customer_id) if t.reference_kind == "freeze"]
    assert [t.reference for t in fees] == [
        f"freeze:{booked.id}:{_day(n).isoformat()}" for n in range(4, 11)
    ]
    assert all(t.amount == -500 and t.reason is TransactionReason.fee for t in fees)
    assert await balance_of(session, customer_id) == 100000 - 7 * 500
    await assert_ledger_invariant(session)


async def test_resume_now_ends_it_today_and_gives_unused_free_days_back(session, settings):
    customer_id, sub_id = await _customer(session)
    booked = await _create(session, settings, customer_id, TODAY, _day(19))  # 20 days

    resumed = await suspensions.resume_now(session, customer_id, booked.id, _day(4), NOW, ACTOR)
    await session.commit()

    assert resumed.status is SuspensionStatus.finished and resumed.end_on == _day(4)
    assert resumed.resumed_at == NOW
    assert await _sub_status(session, sub_id) is SubscriptionStatus.active
    [ended] = await outbox_of(session, "suspension.ended")
    assert ended.payload["resumed_early"] is True
    listing = await suspensions.list_for_customer(session, settings, customer_id, _day(4))
    assert listing.free_days_left == 30 - 5
    assert [s.id for s in listing.items] == [booked.id]
    with pytest.raises(suspensions.FreezeNotActive):
        await suspensions.resume_now(session, customer_id, booked.id, _day(4), NOW, ACTOR)
    # the day after the resume is no longer paused
    await session.rollback()
    await suspensions.process_day(session, settings, _day(5), NOW)
    await session.commit()
    assert await _sub_status(session, sub_id) is SubscriptionStatus.active


async def test_cancel_only_a_scheduled_one_and_resume_only_an_active_one(session, settings):
    customer_id, sub_id = await _customer(session)
    later = await _create(session, settings, customer_id, _day(30), _day(40))
    with pytest.raises(suspensions.FreezeNotActive):
        await suspensions.resume_now(session, customer_id, later.id, TODAY, NOW, ACTOR)
    await session.rollback()

    cancelled = await suspensions.cancel(session, customer_id, later.id, ACTOR)
    await session.commit()
    assert cancelled.status is SuspensionStatus.cancelled
    assert await suspensions.process_day(session, settings, _day(30), NOW) == 0
    await session.commit()
    assert await _sub_status(session, sub_id) is SubscriptionStatus.active

    now_on = await _create(session, settings, customer_id, TODAY, _day(8))
    with pytest.raises(suspensions.FreezeNotCancellable):
        await suspensions.cancel(session, customer_id, now_on.id, ACTOR)
    await session.rollback()
    other_id, _ = await _customer(session)
    with pytest.raises(suspensions.SuspensionNotFound):
        await suspensions.cancel(session, other_id, now_on.id, ACTOR)


async def test_back_to_back_pauses_keep_the_subscription_suspended(session, settings):
    customer_id, sub_id = await _customer(session)
    await _create(session, settings, customer_id, _day(1), _day(7))
    await _create(session, settings, customer_id, _day(8), _day(14))

    for n in range(1, 16):
        await suspensions.process_day(session, settings, _day(n), NOW)
        await session.commit()
        expected = SubscriptionStatus.suspended if n <= 14 else SubscriptionStatus.active
        assert await _sub_status(session, sub_id) is expected, n


async def test_no_tariff_charges_while_suspended(session, settings, resources, monkeypatch):
    """The billing run on its own (no steps registered) charges only active subscriptions."""
    monkeypatch.setattr(tasks, "PRE_CHARGE_STEPS", {})
    monkeypatch.setattr(tasks, "POST_CHARGE_STEPS", {})
    today = business_today(settings)
    paused_id, paused_sub = await _customer(session)
    active_id, _ = await _customer(session)
    await _create(session, settings, paused_id, today, today + timedelta(days=9), today=today)
    assert await _sub_status(session, paused_sub) is SubscriptionStatus.suspended

    report = await billing_run(resources, today)

    assert report.charged == 1
    assert await balance_of(session, paused_id) == 100000
    assert await balance_of(session, active_id) == 100000 - rules.daily_share(PRICE, today)


async def test_billing_run_with_the_step_charges_only_outside_the_pause(
    session, settings, resources, monkeypatch
):
    monkeypatch.setattr(tasks, "PRE_CHARGE_STEPS", {"suspensions": suspensions.process_day})
    monkeypatch.setattr(tasks, "POST_CHARGE_STEPS", {})
    customer_id, sub_id = await _customer(session)
    await _create(session, settings, customer_id, _day(2), _day(8))

    for n in range(0, 11):
        await billing_run(resources, _day(n))

    charged_days = sorted(
        t.reference.rsplit(":", 1)[1]
        for t in await transactions_of(session, customer_id)
        if t.reason is TransactionReason.charge and t.reference
    )
    assert charged_days == [_day(n).isoformat() for n in (0, 1, 9, 10)]
    assert await _sub_status(session, sub_id) is SubscriptionStatus.active
    await assert_ledger_invariant(session)


# --- API ------------------------------------------------------------------------------------


async def test_customer_flow_through_the_api(client, session, settings, as_customer, as_staff):
    customer, headers = await as_customer(balance=100000)
    tariff = await make_tariff(session, price=PRICE)
    await make_subscription(session, customer, tariff)
    await session.commit()
    today = business_today(settings)
    body = {"start_on": today.isoformat(), "end_on": (today + timedelta(days=9)).isoformat()}

    q = await client.post(f"{SUSPENSIONS}/quote", json=body, headers=headers)
    assert q.status_code == 200, q.text
    assert q.json()["days"] == 10 and q.json()["starts_now"] is True

    created = await client.post(SUSPENSIONS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert created.json()["status"] == "active"

    overlapping = await client.post(SUSPENSIONS, json=body, headers=headers)
    assert overlapping.status_code == 409
    assert overlapping.json()["error"] == "freeze_overlaps"
    assert overlapping.json()["suspension_id"] == sid

    listing = await client.get(SUSPENSIONS, headers=headers)
    assert listing.status_code == 200
    assert [s["id"] for s in listing.json()["items"]] == [sid]
    assert listing.json()["free_days_left"] == 20

    cannot_cancel = await client.delete(f"{SUSPENSIONS}/{sid}", headers=headers)
    assert cannot_cancel.status_code == 409
    assert cannot_cancel.json()["error"] == "freeze_not_cancellable"

    # someone else's pause is not found
    _, other_headers = await as_customer(balance=100)
    assert (
        await client.post(f"{SUSPENSIONS}/{sid}/resume", headers=other_headers)
    ).status_code == 404
    assert (await client.delete(f"{SUSPENSIONS}/{sid}", headers=other_headers)).status_code == 404

    resumed = await client.post(f"{SUSPENSIONS}/{sid}/resume", headers=headers)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "finished"

    _, agent_headers = await as_staff(Role.agent)
    staff_list = await client.get(
        f"/api/v1/customers/{customer.id}/suspensions", headers=agent_headers
    )
    assert staff_list.status_code == 200 and len(staff_list.json()["items"]) == 1
    assert (
        await client.get(f"/api/v1/customers/{customer.id}/suspensions", headers=headers)
    ).status_code == 403


async def test_api_bad_input(client, session, settings, as_customer):
    customer, headers = await as_customer(balance=100000)
    tariff = await make_tariff(session, price=PRICE)
    await make_subscription(session, customer, tariff)
    await session.commit()
    today = business_today(settings)
    bad_bodies = [
        {},
        {"start_on": today.isoformat()},
        {"start_on": "tomorrow", "end_on": today.isoformat()},
        {
            "start_on": (today + timedelta(days=9)).isoformat(),
            "end_on": today.isoformat(),
        },
        {"start_on": today.isoformat(), "end_on": today.isoformat(), "extra": 1},
    ]
    for body in bad_bodies:
        r = await client.post(f"{SUSPENSIONS}/quote", json=body, headers=headers)
        assert r.status_code == 422, body
    too_short = await client.post(
        f"{SUSPENSIONS}/quote",
        json={"start_on": today.isoformat(), "end_on": today.isoformat()},
        headers=headers,
    )
    assert too_short.status_code == 409
    assert too_short.json()["error"] == "freeze_too_short"
    assert too_short.json()["min_days"] == 7
    assert (await client.delete(f"{SUSPENSIONS}/0", headers=headers)).status_code == 422
    assert (await client.delete(f"{SUSPENSIONS}/12345", headers=headers)).status_code == 404
