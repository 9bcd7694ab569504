"""The sandbox payment end to end, as a customer does it: `python main.py` (the embedded
default), a top-up through the API, the checkout page in Chromium, Pay, and the balance."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.ops.test_embedded import running_app

pytestmark = pytest.mark.slow


def _login(client) -> dict[str, str]:
    r = client.post(
        "/api/v1/auth/login", json={"login": "demo@example.com", "password": "demo-password"}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['tokens']['access_token']}"}


async def test_pay_in_the_browser_credits_once(tmp_path, browser):
    with running_app(tmp_path / "data", tmp_path / "app.log") as (client, _):
        headers = _login(client)
        assert client.get("/api/v1/billing/balance", headers=headers).json()["amount"] == 35000
        created = client.post(
            "/api/v1/payments",
            headers={**headers, "Idempotency-Key": "browser-1"},
            json={"amount": 60000},
        )
        assert created.status_code == 201, created.text
        payment = created.json()

        page = await browser.new_page(locale="ru-RU")
        await page.goto(payment["confirmation_url"])
        content = await page.content()
        assert "600,00" in content or "600.00" in content
        await page.get_by_role("button", name="Оплатить").click()
        await page.wait_for_url("**/pay/status/**")
        # the status page polls until the signed webhook has been processed
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = client.get(f"/api/v1/payments/{payment['id']}", headers=headers).json()
            if status["status"] == "succeeded":
                break
            await asyncio.sleep(0.3)
        assert status["status"] == "succeeded", status
        balance = client.get("/api/v1/billing/balance", headers=headers).json()
        assert balance["amount"] == 95000
        assert balance["display"] == "950.00"

        # pressing Pay again (a reload and a second submit) credits nothing more
        await page.goto(payment["confirmation_url"])
        buttons = page.get_by_role("button", name="Оплатить")
        if await buttons.count():
            await buttons.first.click()
            await page.wait_for_load_state()
        await asyncio.sleep(1)
        assert client.get("/api/v1/billing/balance", headers=headers).json()["amount"] == 95000
        await page.close()
