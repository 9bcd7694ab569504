"""Reconciliation: pending payments are re-checked with the provider (its API is the truth),
credited once, cancelled or expired; safe with several workers and racing the webhook."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from backend.app import default_roles
from backend.models import Payment, PaymentStatus, utcnow
from backend.payments import tasks
from backend.payments.providers import sandbox
from backend.state import Resources
from tests.backend.payments.conftest import (
    assert_ledger_invariant,
    client_for,
    key_header,
    yookassa_overrides,
)
from tests.backend.payments.helpers import balance_of, outbox_of, payment_row, topups_of
from tests.support.yookassa_standin import YooKassaStandIn

YOOKASSA_IP = "185.71.76.10"
LATER = timedelta(minutes=10)
MUCH_LATER = timedelta(hours=25)


def with_settings(resources: Resources, **overrides: Any) -> Resources:
    return dataclasses.replace(resources, settings=resources.settings.model_copy(update=overrides))


async def create(app, headers, amount: int = 15000) -> dict[str, Any]:
    async with client_for(app) as api:
        r = await api.post("/api/v1/payments", json={"amount": amount}, headers=key_header(headers))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def provider_id_of(resources: Resources, payment: dict[str, Any]) -> str:
    value = (await payment_row(resources, payment["id"])).provider_payment_id
    assert value is not None
    return value


def gets(fake: YooKassaStandIn) -> list[str]:
    return [c.path for c in fake.calls if c.method == "GET"]


async def test_a_paid_payment_without_its_notification_is_credited_once(
    yookassa_app, standin, as_customer, resources
):
    fake, api_base = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    payment = await create(app, headers)
    provider_id = await provider_id_of(resources, payment)
    fake.succeed(provider_id)  # ... and YooKassa's notification is lost
    res = with_settings(resources, **yookassa_overrides(fake, api_base))

    # too young to poll: the notification may still be on its way
    early = await tasks.reconcile_pending(res)
    assert early.checked == 0
    assert gets(fake) == []

    report = await tasks.reconcile_pending(res, now=utcnow() + LATER)
    assert (report.checked, report.credited) == (1, 1)
    assert gets(fake) == [f"/v3/payments/{provider_id}"]
    again = await tasks.reconcile_pending(res, now=utcnow() + 2 * LATER)
    assert again.checked == 0  # no longer pending
    # the notification arrives after all: nothing more
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        late = await yk.post(
            "/api/v1/payments/webhooks/yookassa",
            content=json.dumps(
                {
                    "type": "notification",
                    "event": "payment.succeeded",
                    "object": {"id": provider_id},
                }
            ).encode(),
        )
    assert late.json() == {"status": "duplicate"}
    assert await balance_of(resources, customer.id) == 15000
    assert len(await topups_of(resources, customer.id)) == 1
    assert len(await outbox_of(resources, "payment.credited")) == 1
    row = await payment_row(resources, payment["id"])
    assert row.status is PaymentStatus.succeeded
    await assert_ledger_invariant(resources)


async def test_canceled_pending_and_abandoned_payments(
    yookassa_app, standin, as_customer, resources
):
    fake, api_base = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    canceled, waiting = await create(app, headers), await create(app, headers)
    fake.cancel(await provider_id_of(resources, canceled))
    res = with_settings(resources, **yookassa_overrides(fake, api_base))

    report = await tasks.reconcile_pending(res, now=utcnow() + LATER)
    assert (report.checked, report.cancelled, report.expired) == (2, 1, 0)
    assert (await payment_row(resources, canceled["id"])).status is PaymentStatus.cancelled
    assert (await payment_row(resources, waiting["id"])).status is PaymentStatus.pending

    # still pending on YooKassa past PAYMENT_PENDING_EXPIRE_HOURS: abandoned
    report = await tasks.reconcile_pending(res, now=utcnow() + MUCH_LATER)
    assert (report.checked, report.expired) == (1, 1)
    assert (await payment_row(resources, waiting["id"])).status is PaymentStatus.expired
    async with client_for(app) as api:
        shown = (await api.get(f"/api/v1/payments/{waiting['id']}", headers=headers)).json()
    assert shown["status"] == "expired"
    assert await balance_of(resources, customer.id) == 0


async def test_an_expired_payment_paid_after_all_is_credited(
    yookassa_app, standin, as_customer, resources
):
    """Expiry is our bookkeeping, not the provider's word: money taken is still credited."""
    fake, api_base = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    payment = await create(app, headers)
    res = with_settings(resources, **yookassa_overrides(fake, api_base))
    await tasks.reconcile_pending(res, now=utcnow() + MUCH_LATER)
    assert (await payment_row(resources, payment["id"])).status is PaymentStatus.expired
    fake.succeed(await provider_id_of(resources, payment))
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        r = await yk.post(
            "/api/v1/payments/webhooks/yookassa",
            content=json.dumps(
                {
                    "type": "notification",
                    "event": "payment.succeeded",
                    "object": {"id": await provider_id_of(resources, payment)},
                }
            ).encode(),
        )
    assert r.json() == {"status": "credited"}
    assert await balance_of(resources, customer.id) == 15000


async def test_provider_outage_changes_nothing_and_is_retried(
    yookassa_app, standin, as_customer, resources
):
    fake, api_base = standin
    customer, headers = await as_customer()
    payment = await create(yookassa_app(), headers)
    fake.succeed(await provider_id_of(resources, payment))
    fake.unavailable = True
    res = with_settings(resources, **yookassa_overrides(fake, api_base))
    report = await tasks.reconcile_pending(res, now=utcnow() + MUCH_LATER)
    assert (report.checked, report.errors, report.expired) == (1, 1, 0)
    assert (await payment_row(resources, payment["id"])).status is PaymentStatus.pending
    fake.unavailable = False
    # checked a moment ago: the next look waits a while
    soon = await tasks.reconcile_pending(res, now=utcnow() + MUCH_LATER + timedelta(seconds=30))
    assert soon.checked == 0
    report = await tasks.reconcile_pending(res, now=utcnow() + MUCH_LATER + LATER)
    assert report.credited == 1
    assert await balance_of(resources, customer.id) == 15000


async def test_a_payment_the_provider_does_not_know_expires_by_age(
    yookassa_app, standin, as_customer, resources
):
    fake, api_base = standin
    _, headers = await as_customer()
    payment = await create(yookassa_app(), headers)
    del fake.payments[await provider_id_of(resources, payment)]  # YooKassa answers 404
    res = with_settings(resources, **yookassa_overrides(fake, api_base))
    young = await tasks.reconcile_pending(res, now=utcnow() + LATER)
    assert (young.checked, young.errors, young.expired) == (1, 0, 0)
    old = await tasks.reconcile_pending(res, now=utcnow() + MUCH_LATER)
    assert (old.checked, old.errors, old.expired) == (1, 0, 1)
    assert (await payment_row(resources, payment["id"])).status is PaymentStatus.expired


async def test_two_workers_and_the_webhook_racing_credit_each_payment_once(
    yookassa_app, standin, as_customer, resources
):
    fake, api_base = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    payments = [await create(app, headers, 10000 + i) for i in range(6)]
    provider_ids = [await provider_id_of(resources, p) for p in payments]
    for provider_id in provider_ids:
        fake.succeed(provider_id)
    fake.calls.clear()
    res = with_settings(resources, **yookassa_overrides(fake, api_base))
    other = dataclasses.replace(res, sessionmaker=res.sessionmaker)  # a second worker
    when = utcnow() + LATER

    async def webhooks() -> list[str]:
        async with client_for(app, ip=YOOKASSA_IP) as yk:
            answers = await asyncio.gather(
                *(
                    yk.post(
                        "/api/v1/payments/webhooks/yookassa",
                        content=json.dumps(
                            {
                                "type": "notification",
                                "event": "payment.succeeded",
                                "object": {"id": pid},
                            }
                        ).encode(),
                    )
                    for pid in provider_ids
                )
            )
        return [a.json()["status"] for a in answers]

    first, second, acks = await asyncio.gather(
        tasks.reconcile_pending(res, now=when),
        tasks.reconcile_pending(other, now=when),
        webhooks(),
    )
    # each payment was polled by one worker at most (the other skipped the claimed rows)
    polled = [p for p in gets(fake) if p.startswith("/v3/payments/")]
    webhook_gets = len(provider_ids)
    assert len(polled) - webhook_gets == first.checked + second.checked <= len(provider_ids)
    assert first.credited + second.credited + acks.count("credited") == len(provider_ids)
    total = sum(10000 + i for i in range(6))
    assert await balance_of(resources, customer.id) == total
    assert len(await topups_of(resources, customer.id)) == len(provider_ids)
    assert len(await outbox_of(resources, "payment.credited")) == len(provider_ids)
    await assert_ledger_invariant(resources)


async def test_sandbox_payments_are_reconciled_too(make_app, as_customer, resources, session):
    customer, headers = await as_customer()
    app = make_app()
    paid, declined, abandoned = [await create(app, headers) for _ in range(3)]
    # the checkout page recorded the customer's decision; the webhooks were lost
    decisions: list[tuple[dict[str, Any], sandbox.SandboxState]] = [
        (paid, "succeeded"),
        (declined, "canceled"),
    ]
    for payment, state in decisions:
        row = await session.scalar(select(Payment).where(Payment.public_id == payment["id"]))
        assert row is not None
        sandbox.set_state(row, state)
    await session.commit()
    report = await tasks.reconcile_pending(resources, now=utcnow() + LATER)
    assert (report.checked, report.credited, report.cancelled) == (3, 1, 1)
    await tasks.reconcile_pending(resources, now=utcnow() + MUCH_LATER)
    statuses = [(await payment_row(resources, p["id"])).status for p in (paid, declined, abandoned)]
    assert statuses == [PaymentStatus.succeeded, PaymentStatus.cancelled, PaymentStatus.expired]
    assert await balance_of(resources, customer.id) == 15000
    await assert_ledger_invariant(resources)


async def test_payments_no_provider_can_confirm_expire_by_age(
    make_app, as_customer, resources, session
):
    """A Telegram invoice never paid, and a sandbox payment left from before the provider
    changed: nothing can be asked, so age alone expires them."""
    customer, headers = await as_customer()
    sandbox_payment = await create(make_app(), headers)
    telegram_payment = Payment(
        customer_id=customer.id,
        public_id="00000000-0000-4000-8000-0000000000aa",
        provider="telegram",
        amount=15000,
        currency="RUB",
        status=PaymentStatus.pending,
        details={},
    )
    session.add(telegram_payment)
    await session.commit()
    res = with_settings(resources, payment_provider="yookassa")
    young = await tasks.reconcile_pending(res, now=utcnow() + LATER)
    assert young.expired == 0
    old = await tasks.reconcile_pending(res, now=utcnow() + MUCH_LATER)
    assert old.expired == 2
    for public_id in (sandbox_payment["id"], telegram_payment.public_id):
        assert (await payment_row(resources, public_id)).status is PaymentStatus.expired
    assert await balance_of(resources, customer.id) == 0


def test_the_worker_runs_the_reconciler(settings):
    roles = default_roles(settings.model_copy(update={"run_worker": True}), with_bot=False)
    assert tasks.run_payment_reconciler in roles
    roles = default_roles(settings.model_copy(update={"run_worker": False}), with_bot=False)
    assert tasks.run_payment_reconciler not in roles
