"""The sandbox provider end to end over real HTTP (uvicorn), its signed webhook under
concurrency and forgery, and its checkout page."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from backend.models import PaymentStatus
from backend.payments.providers import sandbox
from tests.backend.payments.conftest import assert_ledger_invariant, key_header, serve
from tests.backend.payments.helpers import (
    audit_actions,
    balance_of,
    form_token,
    outbox_of,
    payment_row,
    signed_event,
    topups_of,
    wait_for_status,
)

SECRET = "demo-sandbox-webhook-secret"


async def _create(client: httpx.AsyncClient, headers, amount: int = 15000) -> dict[str, Any]:
    r = await client.post("/api/v1/payments", json={"amount": amount}, headers=key_header(headers))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _provider_id(payment: dict[str, Any]) -> str:
    return str(payment["confirmation_url"]).rsplit("/", 1)[1]


async def test_sandbox_end_to_end_over_http(make_app, as_customer, resources):
    customer, headers = await as_customer(balance=5000)
    async with (
        serve(lambda base: make_app(public_url=base)) as (_, base),
        httpx.AsyncClient(base_url=base, timeout=20) as web,
    ):
        payment = await _create(web, headers, 123456)
        assert payment["confirmation_url"].startswith(f"{base}/pay/sandbox/")

        page = await web.get(payment["confirmation_url"], params={"lang": "en"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "1,234.56" in page.text
        assert customer.contract_number in page.text  # the description
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        token = form_token(page.text)

        paid = await web.post(
            f"{payment['confirmation_url']}/pay",
            data={"token": token, "lang": "en"},
            follow_redirects=False,
        )
        assert paid.status_code == 303
        status_url = paid.headers["location"]
        assert status_url == f"/pay/status/{payment['id']}?lang=en"
        status_page = await web.get(status_url)
        assert status_page.status_code == 200
        assert f"/api/v1/payments/{payment['id']}/status" in status_page.text
        assert "return to the chat" in status_page.text

        # the webhook travels over HTTP to the app in a background task
        await wait_for_status(web, payment["id"], PaymentStatus.succeeded)
        own = (await web.get(f"/api/v1/payments/{payment['id']}", headers=headers)).json()
        assert own["status"] == "succeeded"
        assert own["credited_at"] is not None
        # pressing Pay again re-sends the webhook; it is a duplicate
        again = await web.post(
            f"{payment['confirmation_url']}/pay", data={"token": token}, follow_redirects=False
        )
        assert again.status_code == 303
        await asyncio.sleep(0.3)
        # the checkout of a paid payment shows its status, not the form
        after = await web.get(payment["confirmation_url"], params={"lang": "en"})
        assert 'name="token"' not in after.text
        assert "Payment received" in after.text

    assert await balance_of(resources, customer.id) == 5000 + 123456
    topups = await topups_of(resources, customer.id)
    assert [(t.amount, t.reference) for t in topups] == [
        (123456, f"sandbox:{_provider_id(payment)}")
    ]
    events = await outbox_of(resources, "payment.credited")
    assert len(events) == 1
    assert events[0].payload["customer_id"] == customer.id
    assert events[0].payload["amount"] == 123456
    assert events[0].payload["balance"] == 5000 + 123456
    assert len(await audit_actions(resources, "payment.credited")) == 1
    await assert_ledger_invariant(resources)


async def test_100_concurrent_deliveries_credit_once(make_app, as_customer, resources):
    customer, headers = await as_customer()
    async with (
        serve(lambda base: make_app(public_url=base)) as (_, base),
        httpx.AsyncClient(
            base_url=base, timeout=60, limits=httpx.Limits(max_connections=100)
        ) as web,
    ):
        payment = await _create(web, headers, 50000)
        body, signed = signed_event(SECRET, "payment.succeeded", _provider_id(payment), 50000)
        responses = await asyncio.gather(
            *(
                web.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
                for _ in range(100)
            )
        )
    assert {r.status_code for r in responses} == {200}, {r.text for r in responses}
    acks = [r.json()["status"] for r in responses]
    assert acks.count("credited") == 1
    assert acks.count("duplicate") == 99
    assert await balance_of(resources, customer.id) == 50000
    assert len(await topups_of(resources, customer.id)) == 1
    assert len(await outbox_of(resources, "payment.credited")) == 1
    assert len(await audit_actions(resources, "payment.credited")) == 1
    await assert_ledger_invariant(resources)


async def test_forged_or_missing_signature_moves_no_money(api, as_customer, resources):
    customer, headers = await as_customer()
    payment = await _create(api, headers)
    body, signed = signed_event("not-the-secret", "payment.succeeded", _provider_id(payment), 15000)
    forged = await api.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_signature"
    # a valid signature of another body
    good_body, good = signed_event(SECRET, "payment.succeeded", _provider_id(payment), 15000)
    tampered = good_body.replace(b"15000", b"15001")
    r = await api.post("/api/v1/payments/webhooks/sandbox", content=tampered, headers=good)
    assert r.status_code == 401
    for header in ({}, {sandbox.SIGNATURE_HEADER: ""}, {sandbox.SIGNATURE_HEADER: "sha256=zz"}):
        r = await api.post("/api/v1/payments/webhooks/sandbox", content=good_body, headers=header)
        assert r.status_code == 401
        assert r.json()["error"] == "invalid_signature"
    assert await balance_of(resources, customer.id) == 0
    assert (await payment_row(resources, payment["id"])).status is PaymentStatus.pending


async def test_malformed_signed_bodies_are_400(api, as_customer, resources):
    customer, headers = await as_customer()
    payment = await _create(api, headers)
    for raw in (
        b"{",
        b"[]",
        b'{"event": "payment.succeeded"}',
        b'{"event": "payment.refunded", "payment_id": "x", "amount": 1, "currency": "RUB"}',
        f'{{"event": "payment.succeeded", "payment_id": "{_provider_id(payment)}", '
        '"amount": "15000", "currency": "RUB"}'.encode(),
        f'{{"event": "payment.succeeded", "payment_id": "{_provider_id(payment)}", '
        '"amount": 150.5, "currency": "RUB"}'.encode(),
    ):
        r = await api.post(
            "/api/v1/payments/webhooks/sandbox",
            content=raw,
            headers={sandbox.SIGNATURE_HEADER: sandbox.sign(SECRET, raw)},
        )
        assert r.status_code == 400, raw
        assert r.json()["error"] == "invalid_payload"
    assert await balance_of(resources, customer.id) == 0


async def test_unknown_payment_and_replays_are_harmless(api, as_customer, resources):
    customer, headers = await as_customer()
    body, signed = signed_event(SECRET, "payment.succeeded", "sbx_unknown", 15000)
    r = await api.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
    assert r.status_code == 200
    assert r.json() == {"status": "ignored"}

    payment = await _create(api, headers)
    body, signed = signed_event(SECRET, "payment.succeeded", _provider_id(payment), 15000)
    acks = [
        (await api.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)).json()
        for _ in range(3)
    ]
    assert [a["status"] for a in acks] == ["credited", "duplicate", "duplicate"]
    # a cancellation after the success changes nothing
    cancel, signed_cancel = signed_event(SECRET, "payment.canceled", _provider_id(payment), 15000)
    r = await api.post("/api/v1/payments/webhooks/sandbox", content=cancel, headers=signed_cancel)
    assert r.json() == {"status": "unchanged"}
    assert (await payment_row(resources, payment["id"])).status is PaymentStatus.succeeded
    assert await balance_of(resources, customer.id) == 15000
    await assert_ledger_invariant(resources)


async def test_amount_mismatch_fails_the_payment_without_money(api, as_customer, resources):
    customer, headers = await as_customer()
    payment = await _create(api, headers)
    body, signed = signed_event(SECRET, "payment.succeeded", _provider_id(payment), 15001)
    r = await api.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
    assert r.json() == {"status": "failed"}
    body, signed = signed_event(SECRET, "payment.succeeded", _provider_id(payment), 15000, "USD")
    r = await api.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
    # a success after a failure is re-verified with the provider: the sandbox never took it
    assert r.json() == {"status": "failed"}
    row = await payment_row(resources, payment["id"])
    assert row.status is PaymentStatus.failed
    assert row.details["failure"]["reason"] == "amount_mismatch"
    assert await balance_of(resources, customer.id) == 0
    assert len(await audit_actions(resources, "payment.failed")) == 1


async def test_decline_cancels_and_a_later_success_is_verified(api, as_customer, resources):
    customer, headers = await as_customer()
    payment = await _create(api, headers)
    page = await api.get(payment["confirmation_url"])
    token = form_token(page.text)
    r = await api.post(
        f"/pay/sandbox/{_provider_id(payment)}/decline",
        data={"token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    # the webhook is sent after the response; deliver the same event by hand here
    body, signed = signed_event(SECRET, "payment.canceled", _provider_id(payment), 15000)
    r = await api.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
    assert r.json() == {"status": "cancelled"}
    # a (validly signed) success after the cancellation: the sandbox's record says canceled
    body, signed = signed_event(SECRET, "payment.succeeded", _provider_id(payment), 15000)
    r = await api.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
    assert r.json() == {"status": "cancelled"}
    assert await balance_of(resources, customer.id) == 0
    # Pay after Decline changes nothing either
    r = await api.post(
        f"/pay/sandbox/{_provider_id(payment)}/pay", data={"token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    row = await payment_row(resources, payment["id"])
    assert row.status is PaymentStatus.cancelled
    assert row.details["sandbox"]["state"] == "canceled"


async def test_success_after_cancel_is_credited_when_the_provider_confirms(
    api, as_customer, resources, session
):
    """Events out of order: we saw 'canceled' first, but the provider's record says paid."""
    customer, headers = await as_customer()
    payment = await _create(api, headers)
    pid = _provider_id(payment)
    cancel, signed_cancel = signed_event(SECRET, "payment.canceled", pid, 15000)
    assert (
        await api.post("/api/v1/payments/webhooks/sandbox", content=cancel, headers=signed_cancel)
    ).json() == {"status": "cancelled"}
    row = await payment_row(resources, payment["id"])
    row.details = {**row.details, "sandbox": {**row.details["sandbox"], "state": "succeeded"}}
    await session.merge(row)
    await session.commit()
    body, signed = signed_event(SECRET, "payment.succeeded", pid, 15000)
    r = await api.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
    assert r.json() == {"status": "credited"}
    assert await balance_of(resources, customer.id) == 15000
    await assert_ledger_invariant(resources)


async def test_checkout_page_is_localized_and_escaped(api, as_customer, resources, session):
    _customer, headers = await as_customer()
    payment = await _create(api, headers, 100000)
    row = await payment_row(resources, payment["id"])
    row.details = {
        **row.details,
        "sandbox": {**row.details["sandbox"], "description": '<script>alert("x")</script>'},
    }
    await session.merge(row)
    await session.commit()
    ru = await api.get(payment["confirmation_url"], headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    assert "Оплатить" in ru.text
    assert "1\u00a0000,00" in ru.text or "1 000,00" in ru.text
    assert "<script>alert" not in ru.text
    assert "&lt;script&gt;" in ru.text
    en = await api.get(
        payment["confirmation_url"], headers={"Accept-Language": "de-DE, en;q=0.8, ru;q=0.1"}
    )
    assert ">Pay<" in en.text
    assert "1,000.00" in en.text
    by_param = await api.get(payment["confirmation_url"], params={"lang": "en"})
    assert ">Pay<" in by_param.text
    unknown = await api.get("/pay/sandbox/sbx_nope")
    assert unknown.status_code == 404
    assert "text/html" in unknown.headers["content-type"]
    bad = await api.get("/pay/sandbox/<script>")
    assert bad.status_code in (404, 422)


async def test_a_form_without_its_token_is_refused(api, as_customer, resources):
    customer, headers = await as_customer()
    payment = await _create(api, headers)
    for data in ({}, {"token": "guess"}, {"token": "x" * 200}):
        r = await api.post(
            f"/pay/sandbox/{_provider_id(payment)}/pay", data=data, follow_redirects=False
        )
        assert r.status_code in (403, 422), data
    row = await payment_row(resources, payment["id"])
    assert row.details["sandbox"]["state"] == "pending"
    assert await balance_of(resources, customer.id) == 0


async def test_webhook_delivery_retries_then_gives_up():
    """deliver_webhook against a closed port: a few attempts, then False (no exception)."""
    ok = await sandbox.deliver_webhook(
        "http://127.0.0.1:9/api/v1/payments/webhooks/sandbox",
        b"{}",
        SECRET,
        attempts=2,
        backoff_s=0.01,
    )
    assert ok is False
