"""An outage from `python main.py` with the Bot API stand-in and the FCM stand-in: the demo
customer has linked a Telegram chat, registered a phone for push and has the chat widget open
on the provider's site; Alertmanager fires for the demo node and the customer is told in
Telegram, by push and in the widget, once; the alert resolves and the end follows on each; a
malformed or unauthenticated payload changes nothing."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from backend.i18n import catalog
from tests.backend.network.conftest import alert, webhook
from tests.e2e.test_widget import TRACK_SOCKETS, WAIT_MS, open_chat, t
from tests.ops.test_embedded import running_app
from tests.support.fcm_standin import FcmStandin
from tests.support.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.slow

CHAT = 777002
DEVICE = "demo-phone-token:APA91b-e2e"
TOKEN = "alertmanager-e2e-token"
AM = "/api/v1/network/alertmanager"


def _texts(standin: TelegramStandIn) -> list[str]:
    return [str(c.params.get("text") or "") for c in standin.calls("sendMessage")
            if c.params.get("chat_id") == CHAT]  # fmt: skip


async def _until(predicate, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.1)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_an_alert_reaches_the_demo_customer_in_telegram_push_and_the_widget(
    tmp_path: Path, browser
) -> None:
    telegram = TelegramStandIn()
    await telegram.start()
    fcm = FcmStandin()
    fcm.start()
    key = fcm.write_key(tmp_path / "fcm.json")
    env = {
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_BASE": telegram.base_url,
        "FCM_CREDENTIALS": str(key),
        "FCM_API_BASE": fcm.base_url,
        "ALERTMANAGER_TOKEN": TOKEN,
    }
    started_ru = catalog().text(
        "network-outage-started", "ru", title="OLT demo-node-1 is down", eta="none"
    )
    resolved_ru = catalog().text("network-outage-resolved", "ru", title="OLT demo-node-1 is down")

    def outage_pushes() -> list:
        # the linking's security notice went by push too (the chat itself was told)
        return [
            s for s in fcm.sent
            if s.target[1] == DEVICE and s.message["data"]["kind"].startswith("outage.")
        ]  # fmt: skip

    try:
        with running_app(tmp_path / "data", tmp_path / "app.log", extra_env=env) as (client, _):
            base = str(client.base_url).rstrip("/")
            login = client.post(
                "/api/v1/auth/login", json={"login": "D-0001", "password": "demo-password"}
            )
            access = login.json()["tokens"]["access_token"]
            headers = {"Authorization": f"Bearer {access}"}
            # the chat is linked to the contract through the cabinet's deep link
            link = client.post("/api/v1/me/telegram/link", headers=headers)
            telegram.queue_update(telegram.command(CHAT, "start", link.json()["token"]))
            await telegram.wait_for(
                "sendMessage",
                timeout=30,
                where=lambda c: c.params.get("chat_id") == CHAT and "D-0001" in str(c.params),
            )
            # the mobile app registers its push token
            device = client.post(
                "/api/v1/me/devices", json={"token": DEVICE, "platform": "android"}, headers=headers
            )
            assert device.status_code in (200, 201), device.text
            # the widget on the provider's site, identified by the cabinet's token
            context = await browser.new_context(locale="ru-RU")
            await context.add_init_script(TRACK_SOCKETS)
            page = await context.new_page()
            await open_chat(page, base)
            await page.evaluate("token => window.ProviderDesk.identify(token)", access)
            await page.get_by_label(t("widget-consent-label")).check()
            await page.get_by_role("button", name=t("widget-continue")).click()
            await expect(page.locator(".status")).to_contain_text("Вы вошли", timeout=WAIT_MS)

            # refused and malformed payloads change nothing
            assert client.post(AM, json=webhook(alert())).status_code == 401
            auth = {"Authorization": f"Bearer {TOKEN}"}
            bad_headers = {**auth, "Content-Type": "application/json"}
            bad = client.post(AM, content=b"{not json", headers=bad_headers)
            assert bad.status_code == 422
            await asyncio.sleep(1.5)
            assert not any(started_ru in text for text in _texts(telegram))
            assert outage_pushes() == []

            r = client.post(AM, json=webhook(alert()), headers=auth)
            assert r.status_code == 200 and r.json()["opened"] == 1, r.text
            await _until(lambda: any(started_ru in text for text in _texts(telegram)))
            await _until(lambda: len(outage_pushes()) == 1)
            await expect(page.locator(".log")).to_contain_text(started_ru, timeout=WAIT_MS)
            [push] = outage_pushes()
            assert push.message["notification"]["body"] == started_ru
            assert push.message["data"]["kind"] == "outage.started"

            # Alertmanager repeats itself; the customer hears nothing new
            client.post(AM, json=webhook(alert()), headers=auth)
            r = client.post(AM, json=webhook(alert("resolved")), headers=auth)
            assert r.status_code == 200 and r.json()["resolved"] == 1, r.text
            await _until(lambda: any(resolved_ru in text for text in _texts(telegram)))
            await _until(lambda: len(outage_pushes()) == 2)
            await expect(page.locator(".log")).to_contain_text(resolved_ru, timeout=WAIT_MS)
            await asyncio.sleep(2)
            texts = _texts(telegram)
            assert sum(started_ru in text for text in texts) == 1
            assert sum(resolved_ru in text for text in texts) == 1
            assert [p.message["data"]["kind"] for p in outage_pushes()] == [
                "outage.started",
                "outage.resolved",
            ]
            log = await page.locator(".log").inner_text()
            assert len(re.findall(re.escape(started_ru.split("\n")[0]), log)) == 1
            await context.close()
    finally:
        fcm.stop()
        await telegram.stop()
