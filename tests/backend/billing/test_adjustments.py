"""Staff money adjustments: admin only, idempotent per Idempotency-Key, audited."""

from __future__ import annotations

import asyncio

import pytest

from backend.audit.service import Actor
from backend.billing import adjustments
from backend.billing.action_schemas import AdjustmentIn
from backend.idempotency import IdempotencyKeyReused
from backend.models import (
    Invoice,
    InvoiceStatus,
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
    transactions_of,
)
from tests.factories import make_customer, make_invoice, make_subscription, make_tariff, make_user


def _path(customer_id: int) -> str:
    return f"/api/v1/customers/{customer_id}/adjustments"


async def _admin(as_staff):
    admin, headers = await as_staff(Role.admin)
    return admin, headers


async def test_admin_adjusts_once_per_idempotency_key(client, session, as_staff):
    _, customer = await make_customer(session, with_user=False, balance=10000)
    await session.commit()
    admin, headers = await _admin(as_staff)
    body = {"amount": -2500, "reason": "double charge on 03.11 reverted wrongly"}
    keyed = {**headers, "Idempotency-Key": "adj-0001"}

    first = await client.post(_path(customer.id), json=body, headers=keyed)
    repeat = await client.post(_path(customer.id), json=body, headers=keyed)

    assert first.status_code == 201, first.text
    assert first.json()["balance_after"] == 7500 and first.json()["amount"] == -2500
    assert "Idempotent-Replayed" not in first.headers
    assert repeat.status_code == 201, repeat.text
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert repeat.json() == first.json()
    [row] = [
        t
        for t in await transactions_of(session, customer.id)
        if t.reason is TransactionReason.adjustment
    ]
    assert row.amount == -2500 and row.created_by_user_id == admin.id
    assert (row.reference_kind, row.reference) == ("adjustment", f"adjustment:{admin.id}:adj-0001")
    assert await balance_of(session, customer.id) == 7500
    [entry] = await audit_of(session, "billing.adjustment")
    assert entry.actor_user_id == admin.id and entry.object_id == str(customer.id)
    assert entry.details["reason"] == body["reason"] and entry.details["amount"] == -2500

    # the same key with another body is refused, and moves nothing
    before = await money_snapshot(session)
    other = await client.post(_path(customer.id), json={**body, "amount": -2600}, headers=keyed)
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    reworded = await client.post(
        _path(customer.id), json={**body, "reason": "something else"}, headers=keyed
    )
    assert reworded.status_code == 422 and reworded.json()["error"] == "idempotency_key_reused"
    assert await money_snapshot(session) == before
    # a new key is a new adjustment
    second = await client.post(
        _path(customer.id), json=body, headers={**headers, "Idempotency-Key": "adj-0002"}
    )
    assert second.status_code == 201
    assert await money_snapshot(session) == (before[0] + 1, before[1] - 2500)
    await assert_ledger_invariant(session)


async def test_the_ledger_reference_alone_posts_once(session, settings):
    """Even without the stored answer (a direct call), the key posts once."""
    _, customer = await make_customer(session, with_user=False, balance=0)
    admin = await make_user(session, role=Role.admin)
    await session.commit()
    customer_id, admin_id = customer.id, admin.id
    actor = Actor(user_id=admin_id, role=Role.admin)
    data = AdjustmentIn(amount=1234, reason="manual fix")
    now = utcnow()

    first = await adjustments.adjust(session, settings, customer_id, data, "k-1", now, actor)
    again = await adjustments.adjust(session, settings, customer_id, data, "k-1", now, actor)
    await session.commit()

    assert first.transaction_id == again.transaction_id
    assert await balance_of(session, customer_id) == 1234
    with pytest.raises(IdempotencyKeyReused):
        await adjustments.adjust(
            session,
            settings,
            customer_id,
            AdjustmentIn(amount=1, reason="other"),
            "k-1",
            now,
            actor,
        )
    await session.rollback()
    long_key = "k" * 128
    out = await adjustments.adjust(session, settings, customer_id, data, long_key, now, actor)
    await session.commit()
    [row] = [t for t in await transactions_of(session, customer_id) if t.id == out.transaction_id]
    assert row.reference is not None and len(row.reference) <= 128
    assert row.reference.startswith(f"adjustment:{admin_id}:sha256:")


async def test_only_admins_with_2fa_may_adjust(client, session, as_staff, as_customer):
    customer, customer_headers = await as_customer(balance=0)
    _, agent_headers = await as_staff(Role.agent)
    _, admin_no_mfa = await as_staff(Role.admin, mfa=False)
    before = await money_snapshot(session)
    body = {"amount": 100000, "reason": "goodwill"}

    for headers, code in [
        (agent_headers, "forbidden"),
        (customer_headers, "forbidden"),
        (admin_no_mfa, "mfa_required"),
    ]:
        r = await client.post(
            _path(customer.id), json=body, headers={**headers, "Idempotency-Key": "k1"}
        )
        assert r.status_code == 403 and r.json()["error"] == code
    anonymous = await client.post(_path(customer.id), json=body, headers={"Idempotency-Key": "k"})
    assert anonymous.status_code == 401
    assert await money_snapshot(session) == before


async def test_bad_input_is_refused_and_moves_nothing(client, session, as_staff):
    _, customer = await make_customer(session, with_user=False, balance=500)
    await session.commit()
    _, headers = await _admin(as_staff)
    keyed = {**headers, "Idempotency-Key": "k-bad"}
    before = await money_snapshot(session)

    missing = await client.post(
        _path(customer.id), json={"amount": 100, "reason": "fix"}, headers=headers
    )
    assert missing.status_code == 422 and missing.json()["error"] == "idempotency_key_required"
    for bad in ("k" * 129, "tab\tinside"):
        bad_key = await client.post(
            _path(customer.id),
            json={"amount": 100, "reason": "fix"},
            headers={**headers, "Idempotency-Key": bad},
        )
        assert bad_key.status_code == 422 and bad_key.json()["error"] == "idempotency_key_invalid"
    for body in [
        {"amount": 0, "reason": "zero"},
        {"amount": 100_000_001, "reason": "absurd"},
        {"amount": -100_000_001, "reason": "absurd"},
        {"amount": 10.5, "reason": "float"},
        {"amount": "100", "reason": "string"},
        {"amount": True, "reason": "bool"},
        {"amount": 100, "reason": "no"},
        {"amount": 100, "reason": "x" * 501},
        {"amount": 100},
        {"amount": 100, "reason": "fine", "currency": "USD"},
    ]:
        r = await client.post(_path(customer.id), json=body, headers=keyed)
        assert r.status_code == 422, body
    unknown = await client.post(_path(999999), json={"amount": 100, "reason": "fix"}, headers=keyed)
    assert unknown.status_code == 404
    assert await money_snapshot(session) == before
    # the limits themselves are allowed
    edge = await client.post(
        _path(customer.id), json={"amount": 100_000_000, "reason": "max"}, headers=keyed
    )
    assert edge.status_code == 201, edge.text


async def test_a_credit_restores_a_blocked_debtor_and_pays_invoices(client, session, as_staff):
    _, customer = await make_customer(session, with_user=False, balance=-3000)
    tariff = await make_tariff(session, price=60000)
    sub = await make_subscription(session, customer, tariff, status=SubscriptionStatus.blocked)
    invoice = await make_invoice(session, customer, amount=2000)
    await session.commit()
    _, headers = await _admin(as_staff)

    r = await client.post(
        _path(customer.id),
        json={"amount": 5000, "reason": "compensation for the outage"},
        headers={**headers, "Idempotency-Key": "restore-1"},
    )

    assert r.status_code == 201, r.text
    assert (await fresh(session, Subscription, sub.id)).status is SubscriptionStatus.active
    assert (await fresh(session, Invoice, invoice.id)).status is InvoiceStatus.paid


async def test_a_debit_never_restores(client, session, as_staff):
    _, customer = await make_customer(session, with_user=False, balance=-3000)
    tariff = await make_tariff(session, price=60000)
    sub = await make_subscription(session, customer, tariff, status=SubscriptionStatus.blocked)
    await session.commit()
    _, headers = await _admin(as_staff)

    r = await client.post(
        _path(customer.id),
        json={"amount": -1000, "reason": "late fee agreed in writing"},
        headers={**headers, "Idempotency-Key": "debit-1"},
    )

    assert r.status_code == 201, r.text
    assert await balance_of(session, customer.id) == -4000
    assert (await fresh(session, Subscription, sub.id)).status is SubscriptionStatus.blocked


async def test_concurrent_repeats_post_once(client, session, as_staff):
    _, customer = await make_customer(session, with_user=False, balance=0)
    await session.commit()
    _, headers = await _admin(as_staff)
    keyed = {**headers, "Idempotency-Key": "burst"}
    body = {"amount": 700, "reason": "rounding"}

    answers = await asyncio.gather(
        *(client.post(_path(customer.id), json=body, headers=keyed) for _ in range(8))
    )

    assert [r.status_code for r in answers] == [201] * 8
    assert sum("Idempotent-Replayed" in r.headers for r in answers) == 7
    assert len({r.json()["transaction_id"] for r in answers}) == 1
    assert await balance_of(session, customer.id) == 700
