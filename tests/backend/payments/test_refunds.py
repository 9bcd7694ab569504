"""Refunds made on YooKassa's side (the shop's dashboard): `refund.succeeded` is verified with
`GET /refunds/{id}` and debits the ledger once per refund id, against the YooKassa stand-in."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import select

from backend.billing import ledger
from backend.models import Account, PaymentStatus, Transaction, TransactionReason
from tests.backend.payments.conftest import assert_ledger_invariant, client_for, key_header
from tests.backend.payments.helpers import audit_actions, balance_of, payment_row
from tests.support.yookassa_standin import YooKassaStandIn

YOOKASSA_IP = "185.71.76.10"
WEBHOOK = "/api/v1/payments/webhooks/yookassa"


def note(event: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": "notification", "event": event, "object": obj}).encode()


def refund_note(fake: YooKassaStandIn, refund_id: str, **lies: Any) -> bytes:
    refund = fake.refunds.get(refund_id, {"id": refund_id, "payment_id": "x"})
    return note("refund.succeeded", {**refund, "status": "succeeded", **lies})


async def refunds_of(resources, customer_id: int) -> list[Transaction]:
    async with resources.sessionmaker() as s:
        return list(
            await s.scalars(
                select(Transaction)
                .join(Account, Account.id == Transaction.account_id)
                .where(
                    Account.customer_id == customer_id,
                    Transaction.reason == TransactionReason.refund,
                )
                .order_by(Transaction.id)
            )
        )


async def paid_payment(
    app, fake: YooKassaStandIn, headers, resources, amount: int = 15000
) -> tuple[dict[str, Any], str]:
    """A YooKassa payment, paid and credited through its notification."""
    async with client_for(app) as api:
        r = await api.post("/api/v1/payments", json={"amount": amount}, headers=key_header(headers))
    assert r.status_code == 201, r.text
    payment: dict[str, Any] = r.json()
    provider_id = (await payment_row(resources, payment["id"])).provider_payment_id
    assert provider_id is not None
    fake.succeed(provider_id)
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        credited = await yk.post(WEBHOOK, content=note("payment.succeeded", {"id": provider_id}))
    assert credited.json() == {"status": "credited"}
    return payment, provider_id


async def test_a_refund_debits_once_however_often_it_is_delivered(
    yookassa_app, standin, as_customer, resources
):
    fake, _ = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    payment, provider_id = await paid_payment(app, fake, headers, resources)
    refund_id = fake.refund(provider_id)
    fake.calls.clear()
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        first = await yk.post(WEBHOOK, content=refund_note(fake, refund_id))
        racing = await asyncio.gather(
            *(yk.post(WEBHOOK, content=refund_note(fake, refund_id)) for _ in range(10))
        )
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "refunded"}
    assert {r.json()["status"] for r in racing} == {"duplicate"}
    # every notification was checked against YooKassa's own record of the refund
    assert {c.path for c in fake.calls} == {f"/v3/refunds/{refund_id}"}
    assert await balance_of(resources, customer.id) == 0
    [debit] = await refunds_of(resources, customer.id)
    assert (debit.amount, debit.reference_kind, debit.reference) == (
        -15000,
        "payment_refund",
        f"yookassa:{refund_id}",
    )
    async with client_for(app) as api:
        shown = (await api.get(f"/api/v1/payments/{payment['id']}", headers=headers)).json()
    assert shown["status"] == "succeeded"
    assert shown["refunded_amount"] == 15000
    assert shown["refund_status"] == "refunded"
    assert len(await audit_actions(resources, "payment.refunded")) == 1
    await assert_ledger_invariant(resources)


async def test_partial_refunds_debit_their_amounts(yookassa_app, standin, as_customer, resources):
    fake, _ = standin
    customer, headers = await as_customer(balance=1000)
    app = yookassa_app()
    payment, provider_id = await paid_payment(app, fake, headers, resources)
    first, second = fake.refund(provider_id, "50.00"), fake.refund(provider_id, "30.50")
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        for refund_id in (first, second, first):
            await yk.post(WEBHOOK, content=refund_note(fake, refund_id))
    assert await balance_of(resources, customer.id) == 1000 + 15000 - 5000 - 3050
    assert [t.amount for t in await refunds_of(resources, customer.id)] == [-5000, -3050]
    async with client_for(app) as api:
        shown = (await api.get(f"/api/v1/payments/{payment['id']}", headers=headers)).json()
    assert shown["refunded_amount"] == 8050
    assert shown["refund_status"] == "partly_refunded"
    await assert_ledger_invariant(resources)


async def test_a_refund_of_spent_money_is_still_recorded(
    yookassa_app, standin, as_customer, resources, session
):
    fake, _ = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    _, provider_id = await paid_payment(app, fake, headers, resources)
    # the customer has already spent the money
    await ledger.post(
        session, customer_id=customer.id, amount=-12000, reason=TransactionReason.charge
    )
    await session.commit()
    refund_id = fake.refund(provider_id)
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        r = await yk.post(WEBHOOK, content=refund_note(fake, refund_id))
    assert r.json() == {"status": "refunded"}
    # the money is gone: the balance goes below zero, and the billing run deals with it
    assert await balance_of(resources, customer.id) == 15000 - 12000 - 15000
    await assert_ledger_invariant(resources)


async def test_a_lying_or_unknown_refund_moves_no_money(
    yookassa_app, standin, as_customer, resources
):
    fake, _ = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    payment, provider_id = await paid_payment(app, fake, headers, resources)
    pending = fake.refund(provider_id, "100.00", status="pending")
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        # the body says succeeded; YooKassa says the refund is still pending
        r = await yk.post(WEBHOOK, content=refund_note(fake, pending))
        assert r.json() == {"status": "pending"}
        # a refund YooKassa has never heard of
        r = await yk.post(
            WEBHOOK,
            content=note(
                "refund.succeeded",
                {"id": "2f000000-0015-5000-8000-000000000000", "payment_id": provider_id},
            ),
        )
        assert r.status_code == 200
        assert r.json() == {"status": "ignored"}
        # the body names the wrong amount: YooKassa's record decides
        fake.settle_refund(pending)
        r = await yk.post(
            WEBHOOK, content=refund_note(fake, pending, amount={"value": "1.00", "currency": "RUB"})
        )
        assert r.json() == {"status": "refunded"}
        bad = await yk.post(WEBHOOK, content=note("refund.succeeded", {"payment_id": provider_id}))
        assert bad.status_code == 400
    assert await balance_of(resources, customer.id) == 15000 - 10000
    assert (await payment_row(resources, payment["id"])).refunded_amount == 10000
    await assert_ledger_invariant(resources)


async def test_a_refund_from_a_foreign_address_is_refused(
    yookassa_app, standin, as_customer, resources
):
    fake, _ = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    _, provider_id = await paid_payment(app, fake, headers, resources)
    refund_id = fake.refund(provider_id)
    async with client_for(app, ip="203.0.113.99") as other:
        r = await other.post(WEBHOOK, content=refund_note(fake, refund_id))
    assert r.status_code == 403
    assert await balance_of(resources, customer.id) == 15000


async def test_a_refund_before_the_lost_payment_notice_credits_then_debits(
    yookassa_app, standin, as_customer, resources
):
    """The payment's own notification never arrived: the refund's verification finds the
    payment succeeded on YooKassa, so it is credited first and then debited."""
    fake, _ = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    async with client_for(app) as api:
        r = await api.post("/api/v1/payments", json={"amount": 20000}, headers=key_header(headers))
    payment = r.json()
    provider_id = (await payment_row(resources, payment["id"])).provider_payment_id
    assert provider_id is not None
    fake.succeed(provider_id)
    refund_id = fake.refund(provider_id, "200.00")
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        r = await yk.post(WEBHOOK, content=refund_note(fake, refund_id))
    assert r.json() == {"status": "refunded"}
    row = await payment_row(resources, payment["id"])
    assert row.status is PaymentStatus.succeeded
    assert row.refunded_amount == 20000
    assert await balance_of(resources, customer.id) == 0
    assert len(await refunds_of(resources, customer.id)) == 1
    await assert_ledger_invariant(resources)


async def test_refund_events_of_unknown_payments_are_ignored(yookassa_app, standin):
    fake, api_base = standin
    # a payment made in the shop outside provider-desk, refunded there
    async with httpx.AsyncClient(base_url=api_base, auth=(fake.shop_id, fake.secret_key)) as c:
        created = await c.post(
            "/payments",
            json={
                "amount": {"value": "10.00", "currency": "RUB"},
                "capture": True,
                "confirmation": {"type": "redirect", "return_url": "https://example.com/"},
            },
            headers={"Idempotence-Key": "outside"},
        )
    outside = created.json()["id"]
    fake.succeed(outside)
    refund_id = fake.refund(outside)
    async with client_for(yookassa_app(), ip=YOOKASSA_IP) as yk:
        r = await yk.post(WEBHOOK, content=refund_note(fake, refund_id))
    assert r.status_code == 200
    assert r.json() == {"status": "ignored"}
