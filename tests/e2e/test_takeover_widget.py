"""A visitor in the widget on the demo page and an agent in /agent, two browser contexts on one
`python main.py`: the visitor signs in and asks for a person, the agent (password + TOTP) gets
the alert and takes over, both see each other's messages and typing live, the agent sends a
document and a note (the visitor never sees the note), hands back to the bot, and the bot
answers again."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.test_console import RECORDER, until_true
from tests.e2e.test_console import sign_in as agent_sign_in
from tests.e2e.test_widget import WAIT_MS, say, shown, t
from tests.e2e.test_widget import sign_in as visitor_sign_in
from tests.ops.test_embedded import running_app

pytestmark = pytest.mark.slow


async def test_an_agent_takes_over_the_widget_and_hands_back(tmp_path: Path, browser) -> None:
    with running_app(tmp_path / "data", tmp_path / "app.log") as (client, _):
        base = str(client.base_url).rstrip("/")
        visitor_ctx = await browser.new_context(
            locale="ru-RU", viewport={"width": 1280, "height": 800}
        )
        agent_ctx = await browser.new_context(
            locale="en-US", viewport={"width": 1280, "height": 800}
        )
        await agent_ctx.add_init_script(RECORDER)
        errors: list[str] = []
        visitor = await visitor_ctx.new_page()
        agent = await agent_ctx.new_page()
        for page in (visitor, agent):
            page.on("pageerror", lambda exc: errors.append(str(exc)))

        await agent_sign_in(agent, base)
        await until_true(agent, "document.body.dataset.live === '1'")

        await visitor.goto(f"{base}/?lang=ru")
        await visitor.get_by_role("button", name=t("widget-open")).click()
        await visitor_sign_in(visitor)
        # a contract in the customer's documents, for the agent to send later
        await say(visitor, "скиньте договор")
        await expect(
            visitor.locator(".log button", has_text=t("widget-download", filename=""))
        ).to_have_count(1, timeout=WAIT_MS)
        await say(visitor, "позовите оператора")
        await shown(visitor, "оператору")

        # the alert, the claim, and the visitor told by name
        item = agent.get_by_test_id("queue").get_by_test_id("conversation")
        await expect(item).to_have_count(1, timeout=WAIT_MS)
        await expect(item).to_contain_text("Web chat")
        await until_true(agent, "window.__notifications.length >= 1")
        assert await agent.evaluate("window.__beeps") >= 1
        await item.click()
        await agent.get_by_test_id("claim").click()
        await expect(agent.get_by_test_id("chat-state")).to_have_text("with an agent")
        await shown(visitor, "Анна")

        # live both ways: typing, then messages
        await agent.get_by_test_id("reply").press_sequentially("Здрав")
        await expect(visitor.locator(".typing")).to_contain_text("Анна", timeout=WAIT_MS)
        await agent.get_by_test_id("reply").fill("Здравствуйте! Это Анна, чем помочь?")
        await agent.get_by_test_id("send").click()
        await shown(visitor, "Здравствуйте! Это Анна, чем помочь?")
        await say(visitor, "Интернет пропадает по вечерам")
        customer = agent.get_by_test_id("transcript").locator("[data-sender=customer]").last
        await expect(customer).to_contain_text("пропадает по вечерам", timeout=WAIT_MS)

        # a document from the card: a download in the widget
        await agent.get_by_test_id("send-document").first.click()
        await expect(
            visitor.locator(".log button", has_text=t("widget-download", filename=""))
        ).to_have_count(2, timeout=WAIT_MS)

        # a note stays with the staff
        await agent.get_by_test_id("note-toggle").check()
        await agent.get_by_test_id("reply").fill("Проверить линию после 19:00")
        await agent.get_by_test_id("send").click()
        await expect(agent.get_by_test_id("note").last).to_contain_text("после 19:00")
        await agent.get_by_test_id("note-toggle").uncheck()

        # back to the bot: the visitor is told and the bot answers again
        await agent.get_by_test_id("release").click()
        await expect(agent.get_by_test_id("chat-state")).to_have_text("with the bot")
        await say(visitor, "какой у меня баланс?")
        await expect(visitor.locator(".msg:not(.customer)").last).to_contain_text(
            "350", timeout=WAIT_MS
        )
        assert "после 19:00" not in await visitor.locator(".log").inner_text()
        assert errors == []
        await visitor_ctx.close()
        await agent_ctx.close()
