"""POST/GET /api/v1/payments: input rules, ownership, staff access, rate limit, audit."""

from __future__ import annotations

import pytest

from backend.models import InvoiceStatus, Role
from tests.backend.payments.conftest import client_for, key_header
from tests.backend.payments.helpers import audit_actions, payment_count, payment_row
from tests.factories import make_invoice


async def test_create_sandbox_payment(api, as_customer, resources, settings):
    customer, headers = await as_customer()
    r = await api.post("/api/v1/payments", json={"amount": 50000}, headers=key_header(headers))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "pending"
    assert body["amount"] == 50000
    assert body["currency"] == "RUB"
    assert body["provider"] == "sandbox"
    assert body["confirmation_url"].startswith(f"{settings.public_url}/pay/sandbox/sbx_")
    assert body["credited_at"] is None
    payment = await payment_row(resources, body["id"])
    assert payment.customer_id == customer.id
    assert payment.provider_payment_id == body["confirmation_url"].rsplit("/", 1)[1]
    created = await audit_actions(resources, "payment.created")
    assert [e.object_id for e in created] == [str(payment.id)]
    assert created[0].details["amount"] == 50000


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"amount": 0}, "validation_error"),
        ({"amount": -10000}, "validation_error"),
        ({"amount": 10**20}, "validation_error"),
        ({"amount": 100.5}, "validation_error"),
        ({"amount": 15000.0}, "validation_error"),
        ({"amount": "15000"}, "validation_error"),
        ({"amount": True}, "validation_error"),
        ({"amount": None}, "amount_required"),
        ({}, "amount_required"),
        ({"amount": 9999}, "amount_out_of_range"),
        ({"amount": 10_000_001}, "amount_out_of_range"),
        ({"amount": 15000, "currency": "USD"}, "unsupported_currency"),
        ({"amount": 15000, "currency": "rub"}, "validation_error"),
        ({"amount": 15000, "provider": "paypal"}, "unknown_provider"),
        ({"amount": 15000, "provider": "yookassa"}, "provider_disabled"),
        ({"amount": 15000, "provider": "telegram"}, "provider_disabled"),
        ({"amount": 15000, "return_url": "javascript:alert(1)"}, "invalid_return_url"),
        ({"amount": 15000, "return_url": "https://evil.example/back"}, "invalid_return_url"),
        ({"amount": 15000, "return_url": "http://127.0.0.1:9999/x"}, "invalid_return_url"),
        ({"amount": 15000, "return_url": "http://u:p@127.0.0.1:8000/x"}, "invalid_return_url"),
        ({"amount": 15000, "invoice_id": 999999}, "invoice_not_found"),
        ({"amount": 15000, "invoice_id": "1"}, "validation_error"),
        ({"amount": 15000, "surprise": 1}, "validation_error"),
    ],
)
async def test_bad_input_is_refused(api, as_customer, resources, payload, code):
    _, headers = await as_customer()
    r = await api.post("/api/v1/payments", json=payload, headers=key_header(headers))
    assert r.status_code == 422 if code != "invoice_not_found" else 404, r.text
    assert r.json()["error"] == code
    assert await payment_count(resources) == 0


async def test_out_of_range_names_the_range(api, as_customer, settings):
    _, headers = await as_customer()
    r = await api.post("/api/v1/payments", json={"amount": 5}, headers=key_header(headers))
    assert r.status_code == 422
    assert r.json()["min"] == settings.topup_min
    assert r.json()["max"] == settings.topup_max


@pytest.mark.parametrize(
    "raw", [b"{", b"not json", b"[]", b'{"amount": 15000', b"\xff\xfe", b'"amount"']
)
async def test_malformed_json_is_a_422(api, as_customer, resources, raw):
    _, headers = await as_customer()
    r = await api.post(
        "/api/v1/payments",
        content=raw,
        headers={**key_header(headers), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"
    assert await payment_count(resources) == 0


async def test_return_url_on_our_host_is_kept(api, as_customer, resources):
    _, headers = await as_customer()
    url = "http://127.0.0.1:8000/app/paid?x=1"
    r = await api.post(
        "/api/v1/payments", json={"amount": 15000, "return_url": url}, headers=key_header(headers)
    )
    assert r.status_code == 201
    payment = await payment_row(resources, r.json()["id"])
    assert payment.details["return_url"] == url
    page = await api.get(f"/pay/status/{payment.public_id}")
    assert f'href="{url}"' in page.text


async def test_invoice_amount_defaults_to_what_remains(api, as_customer, session, resources):
    customer, headers = await as_customer()
    invoice = await make_invoice(session, customer, amount=70000, paid_amount=20000)
    small = await make_invoice(session, customer, amount=5000)
    paid = await make_invoice(session, customer, amount=5000, status=InvoiceStatus.paid)
    other, _ = await as_customer()
    foreign = await make_invoice(session, other, amount=5000)
    await session.commit()

    r = await api.post(
        "/api/v1/payments", json={"invoice_id": invoice.id}, headers=key_header(headers)
    )
    assert r.status_code == 201, r.text
    assert r.json()["amount"] == 50000
    assert r.json()["invoice_id"] == invoice.id
    # an invoice below the minimum top-up can be paid exactly
    r = await api.post(
        "/api/v1/payments", json={"invoice_id": small.id}, headers=key_header(headers)
    )
    assert r.status_code == 201
    assert r.json()["amount"] == 5000
    r = await api.post(
        "/api/v1/payments", json={"invoice_id": paid.id}, headers=key_header(headers)
    )
    assert r.status_code == 409
    assert r.json()["error"] == "invoice_not_payable"
    r = await api.post(
        "/api/v1/payments", json={"invoice_id": foreign.id}, headers=key_header(headers)
    )
    assert r.status_code == 404
    assert r.json()["error"] == "invoice_not_found"


async def test_list_and_read_own_payments_only(api, as_customer):
    _, alice = await as_customer()
    _, bob = await as_customer()
    ids = []
    for amount in (15000, 16000, 17000):
        r = await api.post("/api/v1/payments", json={"amount": amount}, headers=key_header(alice))
        ids.append(r.json()["id"])
    bobs = (
        await api.post("/api/v1/payments", json={"amount": 20000}, headers=key_header(bob))
    ).json()["id"]

    page = (await api.get("/api/v1/payments", headers=alice)).json()
    assert [p["id"] for p in page["items"]] == ids[::-1]
    assert page["next_before"] is None
    first = (await api.get("/api/v1/payments?limit=2", headers=alice)).json()
    assert [p["id"] for p in first["items"]] == ids[:0:-1]
    rest = (
        await api.get(f"/api/v1/payments?limit=2&before={first['next_before']}", headers=alice)
    ).json()
    assert [p["id"] for p in rest["items"]] == ids[:1]
    # a customer's customer_id parameter cannot reach someone else's list
    ignored = (await api.get("/api/v1/payments?customer_id=1&customer_id=2", headers=alice)).json()
    assert [p["id"] for p in ignored["items"]] == ids[::-1]
    bob_customer = (await api.get(f"/api/v1/payments/{bobs}", headers=bob)).json()
    assert bob_customer["id"] == bobs
    assert (await api.get(f"/api/v1/payments/{bobs}", headers=alice)).status_code == 404
    assert (await api.get(f"/api/v1/payments?before={bobs}", headers=alice)).status_code == 404
    assert (await api.get("/api/v1/payments/nope", headers=alice)).status_code == 404
    assert (await api.get("/api/v1/payments")).status_code == 401


async def test_staff_reads_any_customers_payments(api, as_customer, as_staff, session):
    customer, headers = await as_customer()
    pid = (
        await api.post("/api/v1/payments", json={"amount": 15000}, headers=key_header(headers))
    ).json()["id"]
    _, agent = await as_staff(Role.agent)
    listed = await api.get(f"/api/v1/payments?customer_id={customer.id}", headers=agent)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["items"]] == [pid]
    assert (await api.get(f"/api/v1/payments/{pid}", headers=agent)).json()["id"] == pid
    missing = await api.get("/api/v1/payments", headers=agent)
    assert missing.status_code == 422
    assert missing.json()["error"] == "customer_id_required"
    _, no_mfa = await as_staff(Role.agent, mfa=False)
    assert (await api.get(f"/api/v1/payments/{pid}", headers=no_mfa)).status_code == 403
    # staff do not create top-ups for themselves
    r = await api.post("/api/v1/payments", json={"amount": 15000}, headers=key_header(agent))
    assert r.status_code == 403


async def test_public_status_shows_only_the_status(api, as_customer):
    _, headers = await as_customer()
    pid = (
        await api.post("/api/v1/payments", json={"amount": 15000}, headers=key_header(headers))
    ).json()["id"]
    r = await api.get(f"/api/v1/payments/{pid}/status")
    assert r.status_code == 200
    assert r.json() == {"status": "pending"}
    assert (
        await api.get("/api/v1/payments/00000000-0000-0000-0000-000000000000/status")
    ).status_code == 404


async def test_payment_creation_is_rate_limited(make_app, as_customer, resources):
    _, headers = await as_customer()
    first_key = key_header(headers, "first")
    async with client_for(make_app(payment_create_per_hour=3)) as c:
        codes = []
        for h in (first_key, key_header(headers), key_header(headers), key_header(headers)):
            codes.append(await c.post("/api/v1/payments", json={"amount": 15000}, headers=h))
        assert [r.status_code for r in codes] == [201, 201, 201, 429]
        assert codes[3].json()["error"] == "rate_limited"
        assert int(codes[3].headers["Retry-After"]) > 0
        # a replay is not a new creation: it still answers
        replay = await c.post("/api/v1/payments", json={"amount": 15000}, headers=first_key)
        assert replay.status_code == 201
        assert replay.json()["id"] == codes[0].json()["id"]
    assert await payment_count(resources) == 3


async def test_sandbox_refused_in_production_unless_chosen(make_app, as_customer, resources):
    _, headers = await as_customer()
    app = make_app(app_env="production", payment_provider="yookassa")
    async with client_for(app) as c:
        r = await c.post(
            "/api/v1/payments",
            json={"amount": 15000, "provider": "sandbox"},
            headers=key_header(headers),
        )
    assert r.status_code == 422
    assert r.json()["error"] == "provider_disabled"
    assert await payment_count(resources) == 0
