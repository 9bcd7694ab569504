"""The agent console in Chromium, from `python main.py` (the embedded default with the demo
data): the demo agent signs in with the password and a TOTP code (the demo secret printed in
the README), a web chat customer asks for a person and appears in the queue live with the
alert, the agent claims the conversation, sees the customer's messages live (a script payload
stays text) and replies, and the customer's socket gets the reply. The screenshots of
docs/img/console-*.png are taken here."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.async_api import Page, expect
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from backend.config import ROOT_DIR
from backend.seed import (
    DEMO_ADMIN_EMAIL,
    DEMO_ADMIN_PASSWORD,
    DEMO_ADMIN_TOTP,
    DEMO_AGENT_EMAIL,
    DEMO_AGENT_PASSWORD,
    DEMO_AGENT_TOTP,
)
from tests.ops.test_embedded import running_app

pytestmark = pytest.mark.slow

SHOTS = ROOT_DIR / "docs" / "img"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'

# Records the desktop notifications and the beeps the page makes (injected before its scripts).
RECORDER = """
window.__notifications = [];
window.__beeps = 0;
(() => {
  const Real = window.Notification;
  class Recorded {
    constructor(title, options) {
      window.__notifications.push({ title, body: (options || {}).body });
    }
    static get permission() { return "granted"; }
    static requestPermission() { return Promise.resolve("granted"); }
  }
  window.Notification = Recorded;
  const Ctx = window.AudioContext;
  if (Ctx) {
    const create = Ctx.prototype.createOscillator;
    Ctx.prototype.createOscillator = function () { window.__beeps += 1; return create.call(this); };
  }
  void Real;
})();
"""


async def sign_in(
    page: Page,
    base: str,
    who: tuple[str, str, str] = (DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD, DEMO_AGENT_TOTP),
    name: str = "Анна",
) -> None:
    email, password, secret = who
    await page.goto(f"{base}/agent")
    await page.wait_for_url("**/agent/login")
    await page.get_by_label("E-mail", exact=True).fill(email)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_label("Code", exact=True).fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Confirm").click()
    await page.wait_for_url(f"{base}/agent")
    await expect(page.get_by_test_id("me")).to_have_text(name)


async def until_true(page: Page, expression: str, seconds: float = 20) -> None:
    """Poll a JavaScript expression until it is truthy. Not `page.wait_for_function`: that
    evaluates a string with eval inside the page, which the console's CSP (script-src 'self')
    refuses; `page.evaluate` goes through the DevTools protocol, outside the page's CSP."""
    deadline = time.monotonic() + seconds
    while not await page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {seconds}s: {expression}"
        await asyncio.sleep(0.1)


async def recv(ws: ClientConnection, seconds: float = 10) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), seconds))
    return data


async def until(ws: ClientConnection, done, seconds: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = await recv(ws, max(0.1, deadline - time.monotonic()))
        if done(frame):
            return frame
    raise AssertionError("the expected frame did not come")


async def customer_chat(client, base: str) -> ClientConnection:
    """The demo customer in the web chat (identified by their access token), asking for a
    person; returns the socket."""
    login = client.post(
        "/api/v1/auth/login", json={"login": "demo@example.com", "password": "demo-password"}
    )
    token = login.json()["tokens"]["access_token"]
    session = client.post("/api/v1/webchat/session", json={}).json()
    ws = await connect(
        base.replace("http://", "ws://") + "/ws/chat", origin=Origin(base), open_timeout=10
    )
    await ws.send(json.dumps({"type": "auth", "session_token": session["session_token"],
                              "locale": "en"}))  # fmt: skip
    ready = await recv(ws)
    assert ready["type"] == "ready", ready
    if ready.get("consented") is False:
        await ws.send(json.dumps({"type": "consent"}))
        await until(ws, lambda f: f["type"] == "consented")
    await ws.send(json.dumps({"type": "identify", "access_token": token}))
    await until(ws, lambda f: f["type"] == "identified")
    await ws.send(json.dumps({"type": "message", "client_msg_id": "m1",
                              "text": "I want to talk to a human operator"}))  # fmt: skip
    await until(ws, lambda f: f.get("kind") == "handover" and f.get("state") == "waiting_agent")
    return ws


async def test_an_agent_takes_over_a_web_chat_live(tmp_path: Path, browser) -> None:
    with running_app(tmp_path / "data", tmp_path / "app.log") as (client, _):
        base = str(client.base_url).rstrip("/")
        context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
        await context.add_init_script(RECORDER)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await sign_in(page, base)
        await expect(page.get_by_test_id("queue")).to_contain_text("Nobody is waiting.")
        await until_true(page, "document.body.dataset.live === '1'")

        ws = await customer_chat(client, base)
        try:
            # the waiting conversation appears live, with the sound and the notification
            item = page.get_by_test_id("queue").get_by_test_id("conversation")
            await expect(item).to_have_count(1, timeout=20000)
            await expect(item).to_contain_text("Иванов Иван Иванович")
            await expect(item).to_contain_text("D-0001")
            await expect(item).to_contain_text("Web chat")
            await until_true(page, "window.__notifications.length >= 1")
            assert await page.evaluate("window.__beeps") >= 1
            await expect(page.get_by_test_id("queue-count")).to_have_text("1")
            await item.click()
            await expect(page.get_by_test_id("chat-state")).to_have_text("waiting")
            await expect(page.get_by_test_id("card-name")).to_have_text("Иванов Иван Иванович")
            SHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SHOTS / "console-queue.png"))

            # claim it (the shortcut `c`), and the customer hears that an agent joined
            await page.get_by_test_id("transcript").click()
            await page.keyboard.press("c")
            await expect(page.get_by_test_id("chat-state")).to_have_text("with an agent")
            await until(ws, lambda f: f.get("kind") == "handover" and f.get("state") == "agent")
            mine = page.get_by_test_id("mine").get_by_test_id("conversation")
            await expect(mine).to_have_count(1)

            # the customer's message arrives live, as text
            await ws.send(json.dumps({"type": "message", "client_msg_id": "m2", "text": XSS}))
            customer = page.get_by_test_id("transcript").locator("[data-sender=customer]").last
            await expect(customer).to_contain_text(XSS, timeout=15000)
            assert await page.evaluate("window.__xss === undefined")
            assert await page.get_by_test_id("transcript").locator("img, script").count() == 0

            # the agent replies with Ctrl+Enter; the customer's socket gets it
            await page.get_by_test_id("reply").fill("Hello, this is Anna from support.")
            await page.keyboard.press("Control+Enter")
            frame = await until(ws, lambda f: f["type"] == "message" and f.get("from") == "agent")
            assert frame["text"] == "Hello, this is Anna from support."
            agent_line = page.get_by_test_id("transcript").locator("[data-sender=agent]").last
            await expect(agent_line).to_contain_text("Hello, this is Anna from support.")

            # an internal note: shown to the agent, never sent to the customer
            await page.get_by_test_id("note-toggle").check()
            await page.get_by_test_id("reply").fill("Customer asked about the evening speed")
            await page.get_by_test_id("send").click()
            await expect(page.get_by_test_id("note").last).to_contain_text("evening speed")
            await page.screenshot(path=str(SHOTS / "console-conversation.png"))

            # the help dialog lists the shortcuts
            await page.get_by_test_id("transcript").click()
            await page.keyboard.press("?")
            await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
            await page.keyboard.press("Escape")

            # back to the bot with `b`: the customer hears it and the bot answers again
            await page.keyboard.press("b")
            await expect(page.get_by_test_id("chat-state")).to_have_text("with the bot")
            await until(ws, lambda f: f.get("kind") == "handover" and f.get("state") == "bot")
            notes = await ws_quiet_notes(ws)
            assert "evening speed" not in notes
        finally:
            await ws.close()
        assert errors == []
        await context.close()


async def ws_quiet_notes(ws: ClientConnection) -> str:
    """Whatever else the customer's socket received within a second, as text."""
    seen = []
    try:
        while True:
            seen.append(await asyncio.wait_for(ws.recv(), 1))
    except TimeoutError:
        return " ".join(str(s) for s in seen)


async def test_the_ticket_queue(tmp_path: Path, browser) -> None:
    with running_app(tmp_path / "data", tmp_path / "app.log") as (client, _):
        base = str(client.base_url).rstrip("/")
        context = await browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{base}/agent/login?lang=en")
        await page.get_by_label("E-mail", exact=True).fill(DEMO_AGENT_EMAIL)
        await page.get_by_label("Password", exact=True).fill(DEMO_AGENT_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_label("Code", exact=True).fill(pyotp.TOTP(DEMO_AGENT_TOTP).now())
        await page.get_by_role("button", name="Confirm").click()
        await page.wait_for_url(f"{base}/agent")

        # `g t` goes to the tickets
        await page.keyboard.press("g")
        await page.keyboard.press("t")
        await page.wait_for_url(f"{base}/agent/tickets")
        tickets = page.get_by_test_id("ticket")
        await expect(tickets).to_have_count(1)
        await page.get_by_label("Text").fill("nothing like this")
        await expect(tickets).to_have_count(0)
        await page.get_by_label("Text").fill("скорость")
        await expect(tickets).to_have_count(1)
        await tickets.first.click()
        await expect(page.get_by_test_id("ticket-subject")).to_contain_text("Вечером падает")
        await expect(page.get_by_test_id("card-name")).to_have_text("Иванов Иван Иванович")

        await page.get_by_test_id("ticket-priority").select_option("high")
        await expect(page.locator("#toast")).to_have_text("Saved.")
        await page.get_by_label("Internal note").check()
        await page.get_by_test_id("ticket-reply").fill("Checked the node: fine.")
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_test_id("ticket-message").last).to_contain_text("Checked the node")

        # what the page did is what the API holds
        login = client.post(
            "/api/v1/auth/login", json={"login": DEMO_AGENT_EMAIL, "password": DEMO_AGENT_PASSWORD}
        ).json()
        verified = client.post(
            "/api/v1/auth/2fa/verify",
            json={"mfa_token": login["mfa_token"], "code": pyotp.TOTP(DEMO_AGENT_TOTP).now()},
        )
        # the code of this time step was spent by the browser's sign-in: wait for the next one
        if verified.status_code != 200:
            await asyncio.sleep(31 - time.time() % 30)
            verified = client.post(
                "/api/v1/auth/2fa/verify",
                json={"mfa_token": login["mfa_token"], "code": pyotp.TOTP(DEMO_AGENT_TOTP).now()},
            )
        assert verified.status_code == 200, verified.text
        headers = {"Authorization": f"Bearer {verified.json()['access_token']}"}
        ticket_id = await tickets.first.get_attribute("data-ticket-id")
        ticket = client.get(f"/api/v1/tickets/{ticket_id}", headers=headers).json()
        assert ticket["priority"] == "high"
        assert ticket["messages"][-1]["internal"] is True
        assert errors == []
        await context.close()


async def test_two_agents_claim_at_once_and_the_loser_is_told(tmp_path: Path, browser) -> None:
    with running_app(tmp_path / "data", tmp_path / "app.log") as (client, _):
        base = str(client.base_url).rstrip("/")
        pages = []
        for who, name in (
            ((DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD, DEMO_AGENT_TOTP), "Анна"),
            ((DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, DEMO_ADMIN_TOTP), "Admin"),
        ):
            context = await browser.new_context(
                locale="en-US", viewport={"width": 1280, "height": 800}
            )
            page = await context.new_page()
            await sign_in(page, base, who, name)
            pages.append(page)
        ws = await customer_chat(client, base)
        try:
            for page in pages:
                item = page.get_by_test_id("queue").get_by_test_id("conversation")
                await expect(item).to_have_count(1, timeout=20000)
                await item.click()
                await expect(page.get_by_test_id("chat-state")).to_have_text("waiting")
                await expect(page.get_by_test_id("claim")).to_be_visible()
            await asyncio.gather(*(p.get_by_test_id("claim").click() for p in pages))
            for page in pages:
                await expect(page.get_by_test_id("chat-state")).to_have_text("with an agent")
            # the loser's page asks who won before it says so
            refused: list[Page] = []
            deadline = time.monotonic() + 10
            while not refused and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                refused = [p for p in pages if await p.get_by_test_id("claim-refused").count()]
            assert len(refused) == 1
            winner = "Admin" if refused[0] is pages[0] else "Анна"
            await expect(refused[0].get_by_test_id("claim-refused")).to_have_text(
                f"Already taken by {winner}."
            )
        finally:
            await ws.close()
        for page in pages:
            await page.context.close()
