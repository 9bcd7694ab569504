"""What a credit does beyond the balance (billing.lifecycle): it pays the invoice it was
made for, lifts a block for debt, and tells the customer."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from backend.db import unit_of_work
from backend.models import (
    Invoice,
    InvoiceStatus,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from backend.payments import service
from tests.backend.payments.conftest import assert_ledger_invariant, key_header
from tests.backend.payments.helpers import (
    audit_actions,
    balance_of,
    outbox_of,
    payment_row,
    signed_event,
)
from tests.factories import make_invoice, make_subscription, make_tariff

SECRET = "demo-sandbox-webhook-secret"


async def test_credit_restores_a_blocked_subscription_and_pays_the_invoice(
    api, as_customer, session, resources
):
    customer, headers = await as_customer(balance=-30000)
    tariff = await make_tariff(session, price=70000)
    sub = await make_subscription(
        session,
        customer,
        tariff,
        status=SubscriptionStatus.blocked,
        blocked_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    older = await make_invoice(
        session, customer, amount=30000, issued_on=datetime(2026, 10, 1).date()
    )
    invoice = await make_invoice(session, customer, amount=70000)
    await session.commit()

    created = await api.post(
        "/api/v1/payments", json={"invoice_id": invoice.id}, headers=key_header(headers)
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["amount"] == 70000
    body, signed = signed_event(
        SECRET, "payment.succeeded", payment["confirmation_url"].rsplit("/", 1)[1], 70000
    )
    r = await api.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
    assert r.json() == {"status": "credited"}

    assert await balance_of(resources, customer.id) == 40000
    async with resources.sessionmaker() as s:
        restored = await s.get(Subscription, sub.id)
        paid = await s.get(Invoice, invoice.id)
        untouched = await s.get(Invoice, older.id)
    assert restored is not None
    assert restored.status is SubscriptionStatus.active
    assert restored.blocked_at is None
    # the named invoice is paid first, though an older one is pending
    assert paid is not None
    assert paid.status is InvoiceStatus.paid
    assert untouched is not None
    assert untouched.status is InvoiceStatus.pending

    [credited] = await outbox_of(resources, "payment.credited")
    assert credited.payload["customer_id"] == customer.id
    assert credited.payload["balance"] == 40000
    assert credited.payload["invoices_paid"] == [invoice.id]
    assert credited.payload["restored_subscriptions"] == [sub.id]
    assert len(await outbox_of(resources, "subscription.restored")) == 1
    assert len(await outbox_of(resources, "invoice.paid")) == 1
    [audit] = await audit_actions(resources, "payment.credited")
    assert audit.details["restored_subscriptions"] == [sub.id]
    await assert_ledger_invariant(resources)


async def test_credit_is_idempotent_when_called_directly(as_customer, api, resources, settings):
    customer, headers = await as_customer()
    payment = (
        await api.post("/api/v1/payments", json={"amount": 20000}, headers=key_header(headers))
    ).json()
    row = await payment_row(resources, payment["id"])
    outcomes = []
    for _ in range(3):
        async with unit_of_work(resources.sessionmaker) as s:
            outcome = await service.credit(s, settings, row.id, amount=20000, currency="RUB")
            outcomes.append((outcome.credited, outcome.payment.status))
    assert outcomes == [
        (True, PaymentStatus.succeeded),
        (False, PaymentStatus.succeeded),
        (False, PaymentStatus.succeeded),
    ]
    async with unit_of_work(resources.sessionmaker) as s:
        assert await service.cancel(s, row.id, reason="late") == "unchanged"
    assert await balance_of(resources, customer.id) == 20000
    async with resources.sessionmaker() as s:
        assert (await s.scalars(select(Invoice))).all() == []
    await assert_ledger_invariant(resources)
