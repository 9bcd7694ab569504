"""The sandbox provider exists only when it is the configured provider: with
PAYMENT_PROVIDER=yookassa, in any APP_ENV, its checkout page and its webhook are 404 and a
webhook signed with the (demo) sandbox secret credits nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from backend.models import PaymentStatus
from tests.backend.payments.conftest import client_for, key_header, serve
from tests.backend.payments.helpers import balance_of, form_token, payment_row, signed_event

SECRET = "demo-sandbox-webhook-secret"


@pytest.mark.slow
@pytest.mark.parametrize("app_env", ["development", "test"])
async def test_sandbox_is_off_when_yookassa_is_the_provider(
    make_app, as_customer, resources, app_env
):
    customer, headers = await as_customer()
    # a sandbox payment left from when the sandbox was the provider (or planted in the table)
    async with client_for(make_app()) as api:
        r = await api.post("/api/v1/payments", json={"amount": 15000}, headers=key_header(headers))
        assert r.status_code == 201, r.text
        payment: dict[str, Any] = r.json()
        checkout = payment["confirmation_url"].replace("http://127.0.0.1:8000", "")
        token = form_token((await api.get(checkout)).text)
    provider_id = checkout.rsplit("/", 1)[1]

    def yookassa_app(base: str):
        return make_app(
            app_env=app_env,
            public_url=base,
            payment_provider="yookassa",
            yookassa_shop_id="100500",
            yookassa_secret_key="test_standin_secret",
            yookassa_api_base="http://127.0.0.1:9/v3",
        )

    async with (
        serve(yookassa_app) as (_, base),
        httpx.AsyncClient(base_url=base, timeout=20) as web,
    ):
        page = await web.get(checkout)
        assert page.status_code == 404
        pay = await web.post(f"{checkout}/pay", data={"token": token}, follow_redirects=False)
        assert pay.status_code == 404
        body, signed = signed_event(SECRET, "payment.succeeded", provider_id, 15000)
        forged = await web.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
        assert forged.status_code == 404
        assert forged.json()["error"] == "not_found"
        chosen = await web.post(
            "/api/v1/payments",
            json={"amount": 15000, "provider": "sandbox"},
            headers=key_header(headers),
        )
        assert chosen.status_code == 422
        assert chosen.json()["error"] == "provider_disabled"
    assert await balance_of(resources, customer.id) == 0
    row = await payment_row(resources, payment["id"])
    assert row.status is PaymentStatus.pending
    assert row.details["sandbox"]["state"] == "pending"
