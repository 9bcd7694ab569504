"""The agent console's remaining actions in Chromium, from `python main.py` (the embedded
default with the demo data): canned responses, a payment link, a ticket made from the
conversation, a transfer to the demo admin, closing with a resolution, the customer search,
presence and sign-out. Each drives the page and checks what the web chat customer's socket
receives and what the page shows.

One app and one signed-in agent (and admin) for the whole module: a TOTP code is good once per
time step, so signing the same person in again for every test would wait for the next step."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect
from websockets.asyncio.client import ClientConnection

from backend.i18n import catalog
from backend.seed import (
    DEMO_ADMIN_EMAIL,
    DEMO_ADMIN_NAME,
    DEMO_ADMIN_PASSWORD,
    DEMO_ADMIN_TOTP,
    DEMO_AGENT_NAME,
    DEMO_CONTRACT,
    DEMO_CUSTOMER_PHONE,
)
from tests.e2e.test_console import RECORDER, customer_chat, sign_in, until
from tests.ops.test_embedded import running_app

pytestmark = pytest.mark.slow

WAIT_MS = 20_000
CUSTOMER = "Иванов Иван Иванович"


@dataclass
class Console:
    """A signed-in console page and the errors its scripts threw."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def queue(self) -> Locator:
        return self.page.get_by_test_id("queue").get_by_test_id("conversation")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str]]:
    tmp = tmp_path_factory.mktemp("console-actions")
    with running_app(tmp / "data", tmp / "app.log") as (client, _):
        yield client, str(client.base_url).rstrip("/")


async def _console(
    browser: Browser, base: str, who: tuple[str, str, str] | None, name: str
) -> Console:
    context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    await context.add_init_script(RECORDER)
    page = await context.new_page()
    console = Console(page)
    page.on("pageerror", lambda exc: console.errors.append(str(exc)))
    if who is None:
        await sign_in(page, base)
    else:
        await sign_in(page, base, who, name)
    await expect(page.locator("body")).to_have_attribute("data-live", "1")
    return console


@pytest.fixture(scope="module")
async def agent(browser: Browser, app: tuple[httpx.Client, str]) -> AsyncIterator[Console]:
    console = await _console(browser, app[1], None, DEMO_AGENT_NAME)
    try:
        yield console
    finally:
        await console.page.context.close()
    assert console.errors == []


@pytest.fixture(scope="module")
async def admin(browser: Browser, app: tuple[httpx.Client, str]) -> AsyncIterator[Console]:
    who = (DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, DEMO_ADMIN_TOTP)
    console = await _console(browser, app[1], who, DEMO_ADMIN_NAME)
    try:
        yield console
    finally:
        await console.page.context.close()
    assert console.errors == []


async def claimed(agent: Console, app: tuple[httpx.Client, str]) -> tuple[ClientConnection, int]:
    """A new web chat of the demo customer asking for a person, claimed by the agent in the
    page; the customer's socket (past the "agent joined" notice) and the conversation's id."""
    client, base = app
    ws = await customer_chat(client, base)
    page = agent.page
    # Every test claims or closes what it starts, so the queue holds just this one.
    item = agent.queue()
    await expect(item).to_have_count(1, timeout=WAIT_MS)
    conversation_id = int(await item.get_attribute("data-conversation-id") or 0)
    await item.click()
    await expect(page.get_by_test_id("chat-state")).to_have_text("waiting")
    await page.get_by_test_id("claim").click()
    await expect(page.get_by_test_id("chat-state")).to_have_text("with an agent")
    await until(ws, lambda f: f.get("kind") == "handover" and f.get("state") == "agent")
    await expect(agent.queue()).to_have_count(0)
    await expect(
        agent.page.locator(f"#mine [data-conversation-id='{conversation_id}']")
    ).to_have_count(1)
    return ws, conversation_id


def agent_message(frame: dict) -> bool:
    return frame.get("type") == "message" and frame.get("from") == "agent"


async def test_canned_responses_fill_in_the_customer(
    agent: Console, app: tuple[httpx.Client, str]
) -> None:
    page = agent.page
    ws, _ = await claimed(agent, app)
    try:
        dialog = page.get_by_role("dialog", name="Canned responses")
        items = dialog.get_by_test_id("canned-item")
        # the button opens the picker with the seeded responses of the customer's language
        await page.get_by_role("button", name=re.compile("^Canned responses")).click()
        await expect(dialog).to_be_visible()
        await expect(items).to_have_count(3)
        for title in ("Greeting", "Balance", "Restart the router"):
            await expect(dialog).to_contain_text(title)
        await page.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()

        # `/` in the empty reply box opens it too; the filter narrows it; Enter sends one
        await page.get_by_test_id("reply").click()
        await page.keyboard.press("/")
        await expect(dialog).to_be_visible()
        await expect(items).to_have_count(3)
        await page.keyboard.type("greet")
        await expect(items).to_have_count(1)
        await page.keyboard.press("Enter")
        await expect(dialog).to_be_hidden()

        frame = await until(ws, agent_message)
        expected = f"Hello, Иван! I am {DEMO_AGENT_NAME} and I will help you sort this out."
        assert frame["text"] == expected
        line = page.get_by_test_id("transcript").locator("[data-sender=agent]").last
        await expect(line).to_contain_text(expected)
        assert await page.get_by_test_id("reply").input_value() == ""
    finally:
        await ws.close()


async def test_a_payment_link(agent: Console, app: tuple[httpx.Client, str]) -> None:
    page = agent.page
    ws, _ = await claimed(agent, app)
    try:
        await page.get_by_role("button", name="Payment link").click()
        dialog = page.get_by_role("dialog", name="Payment link")
        await expect(dialog).to_be_visible()
        amount = dialog.get_by_label("Amount")
        # a bad amount is refused on the page and sends nothing
        await amount.fill("12,345")
        await dialog.get_by_role("button", name="Send").click()
        await expect(page.locator("#toast")).to_have_text(re.compile("amount", re.I))
        await expect(dialog).to_be_visible()

        await amount.fill("750,50")
        await dialog.get_by_role("button", name="Send").click()
        await expect(dialog).to_be_hidden()
        frame = await until(ws, lambda f: f.get("type") == "message" and f.get("kind") == "payment")
        assert frame["amount"] == 75050
        assert frame["currency"] == "RUB"
        assert frame["confirmation_url"].startswith("http")
        chip = page.get_by_test_id("transcript").locator("[data-sender=agent]").last
        await expect(chip).to_contain_text("750.50")
    finally:
        await ws.close()


async def test_a_ticket_from_the_conversation(
    agent: Console, app: tuple[httpx.Client, str]
) -> None:
    page = agent.page
    ws, conversation_id = await claimed(agent, app)
    try:
        await ws.send(json.dumps({"type": "message", "client_msg_id": "t1",
                                  "text": "The router light blinks red all day"}))  # fmt: skip
        customer = page.get_by_test_id("transcript").locator("[data-sender=customer]").last
        await expect(customer).to_contain_text("blinks red", timeout=WAIT_MS)

        await page.get_by_test_id("make-ticket").click()
        dialog = page.get_by_role("dialog", name="Make a ticket")
        await expect(dialog).to_be_visible()
        await dialog.get_by_label("Subject").fill("Router light blinks red")
        await dialog.get_by_role("button", name="Make a ticket").click()
        await expect(dialog).to_be_hidden()
        toast = page.locator("#toast")
        await expect(toast).to_contain_text("#")
        ticket_id = re.search(r"#(\d+)", await toast.inner_text())
        assert ticket_id is not None
        # the customer is told the ticket's number in the chat
        frame = await until(ws, lambda f: f.get("type") == "message" and f["from"] != "customer")
        assert f"#{ticket_id[1]}" in frame["text"], frame
        assert "Router light blinks red" in frame["text"]
        # the conversation stays with the agent
        await expect(page.get_by_test_id("chat-state")).to_have_text("with an agent")

        await page.goto(f"{app[1]}/agent/tickets")
        ticket = page.locator(f"[data-ticket-id='{ticket_id[1]}']")
        await expect(ticket).to_have_count(1)
        await expect(ticket).to_contain_text("Router light blinks red")
        await ticket.click()
        await expect(page.get_by_test_id("ticket-subject")).to_contain_text("Router light")
        # the transcript excerpt is the ticket's description
        await expect(page.locator("#ticket-description")).to_contain_text("blinks red")
        await expect(page.get_by_test_id("card-name")).to_have_text(CUSTOMER)
    finally:
        await ws.close()
        await agent.page.goto(f"{app[1]}/agent#conversation-{conversation_id}")
        await expect(agent.page.locator("body")).to_have_attribute("data-live", "1")


async def test_a_transfer_to_the_admin(
    agent: Console, admin: Console, app: tuple[httpx.Client, str]
) -> None:
    page = agent.page
    ws, conversation_id = await claimed(agent, app)
    try:
        on_admin = admin.page.locator(f"#mine [data-conversation-id='{conversation_id}']")
        await expect(on_admin).to_have_count(0)
        await page.get_by_test_id("transfer").click()
        dialog = page.get_by_role("dialog", name="Transfer")
        await expect(dialog).to_be_visible()
        # the others with their presence; the agent is not among them
        target = dialog.get_by_test_id("transfer-to")
        await expect(target).to_have_count(1)
        await expect(target).to_have_text(f"{DEMO_ADMIN_NAME} · Online")
        await expect(target.locator(".presence-dot.online")).to_have_count(1)
        await target.click()
        await expect(dialog).to_be_hidden()

        # it leaves the agent's conversations and shows up in the admin's, live
        mine = page.locator(f"#mine [data-conversation-id='{conversation_id}']")
        await expect(mine).to_have_count(0, timeout=WAIT_MS)
        await expect(on_admin).to_have_count(1, timeout=WAIT_MS)
        await on_admin.click()
        await expect(admin.page.get_by_test_id("chat-state")).to_have_text("with an agent")
        await expect(admin.page.get_by_test_id("reply")).to_be_visible()
        # the customer hears that another operator, by name, took over
        frame = await until(ws, lambda f: f.get("kind") == "handover")
        assert frame["state"] == "agent"
        assert frame["text"] == catalog().text(
            "dialogs-handover-transferred-named", "en", name=DEMO_ADMIN_NAME
        )

        # the admin answers: the customer gets it from the new holder
        await admin.page.get_by_test_id("reply").fill("Admin here, I will take it from now.")
        await admin.page.get_by_test_id("send").click()
        frame = await until(ws, agent_message)
        assert frame["text"] == "Admin here, I will take it from now."
        # the agent still sees it, read-only: no reply, notes only
        await expect(page.get_by_test_id("note-toggle")).to_be_disabled()
        await admin.page.get_by_test_id("release").click()
        await expect(admin.page.get_by_test_id("chat-state")).to_have_text("with the bot")
    finally:
        await ws.close()


async def test_close_with_a_resolution(agent: Console, app: tuple[httpx.Client, str]) -> None:
    page = agent.page
    ws, conversation_id = await claimed(agent, app)
    try:
        await page.get_by_test_id("close").click()
        dialog = page.get_by_role("dialog", name="Close")
        await expect(dialog).to_be_visible()
        # a resolution is required
        await dialog.get_by_role("button", name="Close").click()
        await expect(dialog).to_be_visible()
        await dialog.get_by_label("Resolution").fill("Explained the evening speed drop")
        await dialog.get_by_role("button", name="Close").click()
        await expect(dialog).to_be_hidden()

        frame = await until(
            ws, lambda f: f.get("kind") == "handover" and f.get("state") == "closed"
        )
        assert frame["text"]
        await expect(page.get_by_test_id("chat-state")).to_have_text("closed")
        mine = page.locator(f"#mine [data-conversation-id='{conversation_id}']")
        await expect(mine).to_have_count(0)
        await expect(agent.queue()).to_have_count(0)
        # a closed conversation offers nothing more
        await expect(page.get_by_test_id("close")).to_be_hidden()
        await expect(page.get_by_test_id("transfer")).to_be_hidden()
        await expect(page.get_by_test_id("claim")).to_be_hidden()
    finally:
        await ws.close()


@pytest.mark.parametrize("query", [DEMO_CONTRACT, "Иванов", DEMO_CUSTOMER_PHONE])
async def test_the_customer_search(agent: Console, app: tuple[httpx.Client, str], query: str):
    page = agent.page
    if page.url != f"{app[1]}/agent":
        await page.goto(f"{app[1]}/agent")
    await page.get_by_test_id("transcript").click()
    # `s` goes to the search box
    await page.keyboard.press("s")
    search = page.get_by_role("searchbox", name="Search customers")
    await expect(search).to_be_focused()
    await search.fill(query)
    hits = page.get_by_test_id("search-hit")
    await expect(hits).to_have_count(1)
    await expect(hits).to_contain_text(CUSTOMER)
    await expect(hits).to_contain_text(DEMO_CONTRACT)
    await hits.click()
    await expect(hits).to_have_count(0)
    await expect(page.get_by_test_id("card-name")).to_have_text(CUSTOMER)
    await expect(page.get_by_test_id("card")).to_contain_text(DEMO_CONTRACT)
    await expect(page.get_by_test_id("card")).to_contain_text(DEMO_CUSTOMER_PHONE)
    # nothing found says so
    await search.fill("zz-nobody")
    await expect(page.locator("#search-results")).to_contain_text("Nobody found")
    await search.press("Escape")
    await expect(page.locator("#search-results")).to_be_hidden()


async def _status(page: Page, user_name: str) -> str:
    """The user's presence as `GET /api/v1/agent/agents` tells it to the page's session."""
    base = re.match(r"https?://[^/]+", page.url)
    assert base is not None
    response = await page.request.get(f"{base[0]}/api/v1/agent/agents")
    assert response.status == 200, await response.text()
    found = [a for a in (await response.json())["items"] if a["display_name"] == user_name]
    assert len(found) == 1
    return str(found[0]["status"])


async def _status_becomes(page: Page, user_name: str, status: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while (now := await _status(page, user_name)) != status:
        assert time.monotonic() < deadline, f"{user_name} stayed {now}, not {status}"
        await asyncio.sleep(0.2)


async def test_presence(agent: Console, admin: Console) -> None:
    page = agent.page
    presence = page.get_by_label("My status")
    await expect(presence).to_have_value("online")
    assert await _status(page, DEMO_AGENT_NAME) == "online"

    await presence.select_option("away")
    await _status_becomes(page, DEMO_AGENT_NAME, "away")
    # the other console reads the same (its transfer list shows this status)
    assert await _status(admin.page, DEMO_AGENT_NAME) == "away"
    # a reload keeps the choice
    await page.reload()
    await expect(page.get_by_label("My status")).to_have_value("away")
    assert await _status(page, DEMO_AGENT_NAME) == "away"

    await page.get_by_label("My status").select_option("online")
    await _status_becomes(page, DEMO_AGENT_NAME, "online")


async def test_sign_out(agent: Console, admin: Console, app: tuple[httpx.Client, str]) -> None:
    _, base = app
    page = agent.page
    # a conversation whose customer waits for the agent's answer when the agent leaves
    ws, conversation_id = await claimed(agent, app)
    try:
        await ws.send(json.dumps({"type": "message", "client_msg_id": "s1",
                                  "text": "Are you still there?"}))  # fmt: skip
        customer = page.get_by_test_id("transcript").locator("[data-sender=customer]").last
        await expect(customer).to_contain_text("still there", timeout=WAIT_MS)

        cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
        old = cookies["pd_console"]
        with_old = {"Cookie": f"pd_console={old}"}
        async with httpx.AsyncClient(base_url=base, timeout=10) as fresh:
            found = await fresh.get("/api/v1/agent/conversations", headers=with_old)
            assert found.status_code == 200, found.text

        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(f"{base}/agent/login")
        after = {c["name"]: c["value"] for c in await page.context.cookies()}
        assert "pd_console" not in after
        assert "pd_console_refresh" not in after
        # the login form's own CSRF cookie replaces the session's
        assert after.get("pd_csrf") != cookies["pd_csrf"]
        await page.goto(f"{base}/agent")
        await page.wait_for_url(f"{base}/agent/login")

        # the old cookies' session is over: neither the access nor the refresh cookie works
        async with httpx.AsyncClient(base_url=base, timeout=10) as fresh:
            refused = await fresh.get("/api/v1/agent/conversations", headers=with_old)
            assert refused.status_code == 401, refused.text
            refresh = await fresh.post(
                "/agent/refresh",
                headers={
                    "Cookie": f"pd_console_refresh={cookies['pd_console_refresh']}; "
                    f"pd_csrf={cookies['pd_csrf']}",
                    "X-CSRF-Token": cookies["pd_csrf"],
                },
            )
            assert refresh.status_code == 401, refresh.text

        # the agent is offline for the others, and the waiting customer is back in the queue
        assert await _status(admin.page, DEMO_AGENT_NAME) == "offline"
        back = admin.page.locator(f"#queue [data-conversation-id='{conversation_id}']")
        await expect(back).to_have_count(1, timeout=WAIT_MS)
        await until(ws, lambda f: f.get("kind") == "handover" and f.get("state") == "waiting_agent")
    finally:
        await ws.close()
