"""The YooKassa provider against a local stand-in of the v3 API served by uvicorn."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from pydantic import SecretStr

from backend.models import PaymentStatus
from tests.backend.payments.conftest import assert_ledger_invariant, client_for, key_header, serve
from tests.backend.payments.helpers import audit_actions, balance_of, outbox_of, payment_row

YOOKASSA_IP = "185.71.76.10"
FOREIGN_IP = "203.0.113.99"


def notification(payment_id: str, event: str = "payment.succeeded", **obj) -> bytes:
    return json.dumps(
        {
            "type": "notification",
            "event": event,
            "object": {
                "id": payment_id,
                "status": "succeeded",
                "paid": True,
                "amount": {"value": "150.00", "currency": "RUB"},
                **obj,
            },
        }
    ).encode()


async def _create(client: httpx.AsyncClient, headers, amount: int = 15000) -> dict[str, Any]:
    r = await client.post("/api/v1/payments", json={"amount": amount}, headers=key_header(headers))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_create_calls_yookassa_as_documented(yookassa_app, standin, as_customer, resources):
    fake, _ = standin
    customer, headers = await as_customer()
    async with client_for(yookassa_app()) as api:
        payment = await _create(api, headers, 15000)
    assert payment["provider"] == "yookassa"
    assert payment["status"] == "pending"
    row = await payment_row(resources, payment["id"])
    assert row.provider_payment_id in fake.payments
    assert (
        payment["confirmation_url"]
        == (fake.payments[row.provider_payment_id]["confirmation"]["confirmation_url"])
    )
    [call] = fake.calls
    assert call.idempotence_key == payment["id"]
    assert call.body == {
        "amount": {"value": "150.00", "currency": "RUB"},
        "capture": True,
        "confirmation": {
            "type": "redirect",
            "return_url": f"http://127.0.0.1:8000/pay/status/{payment['id']}",
        },
        "description": f"Пополнение баланса по договору {customer.contract_number}",
        "metadata": {"payment_id": payment["id"]},
    }


async def test_provider_errors_are_503_and_store_nothing(make_app, standin, as_customer, resources):
    fake, api_base = standin
    _, headers = await as_customer()
    wrong_secret = make_app(
        payment_provider="yookassa",
        yookassa_api_base=api_base,
        yookassa_shop_id=fake.shop_id,
        yookassa_secret_key=SecretStr("wrong"),
    )
    unreachable = make_app(
        payment_provider="yookassa",
        yookassa_api_base="http://127.0.0.1:9/v3",
        yookassa_shop_id=fake.shop_id,
        yookassa_secret_key=SecretStr(fake.secret_key),
    )
    for app in (wrong_secret, unreachable):
        async with client_for(app) as api:
            r = await api.post(
                "/api/v1/payments", json={"amount": 15000}, headers=key_header(headers)
            )
        assert r.status_code == 503
        assert r.json()["error"] == "provider_unavailable"
    assert fake.payments == {}
    assert await audit_actions(resources, "payment.created") == []


async def test_standin_answers_the_same_payment_for_the_same_key(standin):
    fake, api_base = standin
    auth = (fake.shop_id, fake.secret_key)
    body = {
        "amount": {"value": "100.00", "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": "https://example.com/"},
    }
    async with httpx.AsyncClient(base_url=api_base, auth=auth) as c:
        first = await c.post("/payments", json=body, headers={"Idempotence-Key": "k1"})
        again = await c.post("/payments", json=body, headers={"Idempotence-Key": "k1"})
        other = await c.post("/payments", json=body, headers={"Idempotence-Key": "k2"})
        no_key = await c.post("/payments", json=body)
        no_auth = await c.post(
            "/payments", json=body, headers={"Idempotence-Key": "k3"}, auth=("x", "y")
        )
    assert first.status_code == again.status_code == other.status_code == 200
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    assert no_key.status_code == 400
    assert no_auth.status_code == 401


async def test_notification_from_yookassa_is_credited_after_refetch(
    yookassa_app, standin, as_customer, resources
):
    fake, _ = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    async with client_for(app) as api:
        payment = await _create(api, headers)
    provider_id = (await payment_row(resources, payment["id"])).provider_payment_id
    assert provider_id is not None
    fake.succeed(provider_id)
    fake.calls.clear()
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        first = await yk.post(
            "/api/v1/payments/webhooks/yookassa", content=notification(provider_id)
        )
        again = await yk.post(
            "/api/v1/payments/webhooks/yookassa", content=notification(provider_id)
        )
        # a cancellation notice after the success: YooKassa's record still says succeeded
        late = await yk.post(
            "/api/v1/payments/webhooks/yookassa",
            content=notification(provider_id, "payment.canceled", status="canceled"),
        )
    assert first.status_code == 200
    assert first.json() == {"status": "credited"}
    assert again.json() == {"status": "duplicate"}
    assert late.json() == {"status": "duplicate"}
    # every notification was checked with GET /payments/{id}
    assert [c.path for c in fake.calls] == [f"/v3/payments/{provider_id}"] * 3
    assert await balance_of(resources, customer.id) == 15000
    row = await payment_row(resources, payment["id"])
    assert row.status is PaymentStatus.succeeded
    assert len(await outbox_of(resources, "payment.credited")) == 1
    await assert_ledger_invariant(resources)


async def test_notification_through_a_trusted_proxy(yookassa_app, standin, as_customer, resources):
    """Over real HTTP: the app behind a proxy at 127.0.0.1 that passes X-Forwarded-For."""
    fake, _ = standin
    customer, headers = await as_customer()
    async with (
        serve(lambda base: yookassa_app(public_url=base, trusted_proxies=["127.0.0.1"])) as (
            _,
            base,
        ),
        httpx.AsyncClient(base_url=base) as web,
    ):
        payment = await _create(web, headers)
        provider_id = (await payment_row(resources, payment["id"])).provider_payment_id
        assert provider_id is not None
        fake.succeed(provider_id)
        foreign = await web.post(
            "/api/v1/payments/webhooks/yookassa",
            content=notification(provider_id),
            headers={"X-Forwarded-For": FOREIGN_IP},
        )
        assert foreign.status_code == 403
        assert await balance_of(resources, customer.id) == 0
        ok = await web.post(
            "/api/v1/payments/webhooks/yookassa",
            content=notification(provider_id),
            headers={"X-Forwarded-For": YOOKASSA_IP},
        )
        assert ok.json() == {"status": "credited"}
    assert await balance_of(resources, customer.id) == 15000


async def test_a_lying_notification_credits_nothing(yookassa_app, standin, as_customer, resources):
    fake, _ = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    async with client_for(app) as api:
        payment = await _create(api, headers)
    provider_id = (await payment_row(resources, payment["id"])).provider_payment_id
    assert provider_id is not None
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        # the body says succeeded; the API says pending
        r = await yk.post("/api/v1/payments/webhooks/yookassa", content=notification(provider_id))
        assert r.json() == {"status": "pending"}
        # the API says succeeded but for another amount: failed, no money
        fake.succeed(provider_id)
        fake.set_amount(provider_id, "1500.00")
        r = await yk.post("/api/v1/payments/webhooks/yookassa", content=notification(provider_id))
        assert r.json() == {"status": "failed"}
    assert await balance_of(resources, customer.id) == 0
    assert (await payment_row(resources, payment["id"])).status is PaymentStatus.failed


async def test_foreign_address_is_403(yookassa_app, standin, as_customer, resources):
    fake, _ = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    async with client_for(app) as api:
        payment = await _create(api, headers)
    provider_id = (await payment_row(resources, payment["id"])).provider_payment_id
    assert provider_id is not None
    fake.succeed(provider_id)
    fake.calls.clear()
    for ip in (FOREIGN_IP, "185.71.76.32", "::1", "2a03:5180::1"):
        async with client_for(app, ip=ip) as other:
            r = await other.post(
                "/api/v1/payments/webhooks/yookassa", content=notification(provider_id)
            )
        assert r.status_code == 403, ip
        assert r.json()["error"] == "source_not_allowed"
    assert fake.calls == []
    assert await balance_of(resources, customer.id) == 0
    async with client_for(app, ip="2a02:5180::1") as v6:
        r = await v6.post("/api/v1/payments/webhooks/yookassa", content=notification(provider_id))
    assert r.json() == {"status": "credited"}


async def test_unknown_payment_and_bad_bodies(yookassa_app, standin, as_customer, resources):
    fake, _ = standin
    app = yookassa_app()
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        unknown = await yk.post(
            "/api/v1/payments/webhooks/yookassa", content=notification("2f000000-unknown")
        )
        assert unknown.status_code == 200
        assert unknown.json() == {"status": "ignored"}
        for raw in (
            b"{",
            b"",
            b"[]",
            b'{"type": "notification"}',
            b'{"type": "x", "event": "payment.succeeded", "object": {"id": "1"}}',
            b'{"type": "notification", "event": "payment.succeeded", "object": {"id": ""}}',
        ):
            r = await yk.post("/api/v1/payments/webhooks/yookassa", content=raw)
            assert r.status_code == 400, raw
            assert r.json()["error"] == "invalid_payload"
    assert fake.calls == []


async def test_canceled_on_yookassa_cancels_ours(yookassa_app, standin, as_customer, resources):
    fake, _ = standin
    customer, headers = await as_customer()
    app = yookassa_app()
    async with client_for(app) as api:
        payment = await _create(api, headers)
    provider_id = (await payment_row(resources, payment["id"])).provider_payment_id
    assert provider_id is not None
    fake.cancel(provider_id)
    async with client_for(app, ip=YOOKASSA_IP) as yk:
        # even a notification that claims success: YooKassa's record decides
        r = await yk.post("/api/v1/payments/webhooks/yookassa", content=notification(provider_id))
    assert r.json() == {"status": "cancelled"}
    assert (await payment_row(resources, payment["id"])).status is PaymentStatus.cancelled
    assert await balance_of(resources, customer.id) == 0


def test_basic_auth_header_shape():
    """What the stand-in checks is what httpx sends for BasicAuth."""
    request = httpx.Request("GET", "http://x/")
    flow = httpx.BasicAuth("100500", "s3cret").auth_flow(request)
    sent = next(flow)
    expected = base64.b64encode(b"100500:s3cret").decode()
    assert sent.headers["Authorization"] == f"Basic {expected}"
