"""A Telegram customer and an agent in the browser, from `python main.py` polling the Bot API
stand-in with the real aiogram Bot: the customer links the chat to the demo contract, asks for a
person, the agent sees the alert in /agent, claims, both see each other's messages live (the
agent's reply is a sendMessage to the chat), the agent sends one of the customer's documents,
hands back to the bot, and the bot answers the balance again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.test_console import RECORDER, sign_in, until_true
from tests.ops.test_embedded import running_app
from tests.support.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.slow

CHAT = 777001


async def until_sent(standin: TelegramStandIn, method: str, contains: str, seconds: float = 20):
    """The first answered call of `method` to the chat whose text or caption holds `contains`."""

    def matches(call) -> bool:
        text = str(call.params.get("text") or call.params.get("caption") or "")
        return call.params.get("chat_id") == CHAT and contains in text

    calls = await standin.wait_for(method, timeout=seconds, where=matches)
    return calls[0]


async def test_an_agent_takes_over_a_telegram_chat(tmp_path: Path, browser) -> None:
    standin = TelegramStandIn()
    await standin.start()
    env = {"TELEGRAM_BOT_TOKEN": standin.token, "TELEGRAM_API_BASE": standin.base_url}
    try:
        with running_app(tmp_path / "data", tmp_path / "app.log", extra_env=env) as (client, _):
            base = str(client.base_url).rstrip("/")
            # the demo customer links this Telegram chat from the cabinet's deep link
            login = client.post(
                "/api/v1/auth/login",
                json={"login": "demo@example.com", "password": "demo-password"},
            )
            headers = {"Authorization": f"Bearer {login.json()['tokens']['access_token']}"}
            link = client.post("/api/v1/me/telegram/link", headers=headers)
            assert link.status_code == 200, link.text
            standin.queue_update(standin.command(CHAT, "start", link.json()["token"]))
            await until_sent(standin, "sendMessage", "D-0001", seconds=30)
            # the contract the bot sends is one of the documents the agent can send later
            standin.queue_update(standin.message(CHAT, "скиньте договор"))
            await standin.wait_for(
                "sendDocument", timeout=30, where=lambda c: c.params.get("chat_id") == CHAT
            )
            standin.clear_calls()

            context = await browser.new_context(
                locale="en-US", viewport={"width": 1280, "height": 800}
            )
            await context.add_init_script(RECORDER)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await sign_in(page, base)
            await until_true(page, "document.body.dataset.live === '1'")

            # the customer asks for a person in Telegram; the queue shows it live
            standin.queue_update(standin.message(CHAT, "позовите оператора"))
            item = page.get_by_test_id("queue").get_by_test_id("conversation")
            await expect(item).to_have_count(1, timeout=20000)
            await expect(item).to_contain_text("Telegram")
            await expect(item).to_contain_text("D-0001")
            await until_true(page, "window.__notifications.length >= 1")
            await item.click()
            await page.get_by_test_id("claim").click()
            await expect(page.get_by_test_id("chat-state")).to_have_text("with an agent")
            # the customer is told, with the agent's name
            await until_sent(standin, "sendMessage", "Анна")

            # the customer's message reaches the console live
            standin.queue_update(standin.message(CHAT, "Интернет пропадает по вечерам"))
            customer = page.get_by_test_id("transcript").locator("[data-sender=customer]").last
            await expect(customer).to_contain_text("пропадает по вечерам", timeout=15000)

            # the agent's reply is sent to the Telegram chat
            await page.get_by_test_id("reply").fill("Проверяю линию, минуту.")
            await page.get_by_test_id("send").click()
            await until_sent(standin, "sendMessage", "Проверяю линию, минуту.")

            # one of the customer's documents, from the card
            await page.get_by_test_id("send-document").first.click()
            await standin.wait_for(
                "sendDocument", timeout=20, where=lambda c: c.params.get("chat_id") == CHAT
            )

            # back to the bot: the customer is told, and the bot answers again
            await page.get_by_test_id("release").click()
            await expect(page.get_by_test_id("chat-state")).to_have_text("with the bot")
            before = len(standin.sent_texts(CHAT))
            standin.queue_update(standin.message(CHAT, "баланс"))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                answers = standin.sent_texts(CHAT)[before:]
                if any("350" in text for text in answers):
                    break
                await asyncio.sleep(0.2)
            assert any("350" in text for text in answers), answers
            assert errors == []
            await context.close()
    finally:
        await standin.stop()
