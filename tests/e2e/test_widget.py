"""The web chat widget in Chromium, as a visitor of a provider's site uses it: `python main.py`
(the embedded default), the demo page at `/` with `/widget.js` embedded by its script tag, and
the real socket, engine and payment sandbox behind it (docs/widget.md)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Browser, BrowserContext, Dialog, FilePayload, Locator, Page, expect

from backend.config import ROOT_DIR
from backend.i18n import catalog
from tests.ops.test_embedded import running_app

pytestmark = pytest.mark.slow

SHOTS = ROOT_DIR / "docs" / "img"
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WAIT_MS = 20_000
# Every socket the page opens, so that a test can drop the widget's one (the widget keeps its
# socket private, as it should).
TRACK_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = function (url, protocols) {
    const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    window.__sockets.push(socket);
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str]]:
    tmp = tmp_path_factory.mktemp("widget")
    with running_app(tmp / "data", tmp / "app.log") as (client, _):
        yield client, str(client.base_url).rstrip("/")


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 800})
    await ctx.add_init_script(TRACK_SOCKETS)
    try:
        yield ctx
    finally:
        await ctx.close()


def t(key: str, **args: object) -> str:
    return catalog().text(key, "ru", **args)


async def open_chat(page: Page, base: str) -> None:
    await page.goto(f"{base}/?lang=ru")
    await page.get_by_role("button", name=t("widget-open")).click()
    await expect(page.locator(".status")).to_have_text(t("widget-online"), timeout=WAIT_MS)


async def say(page: Page, text: str) -> None:
    box = page.get_by_label(t("widget-input-label"))
    await box.fill(text)
    await box.press("Enter")


async def shown(page: Page, text: str) -> None:
    await expect(page.locator(".log")).to_contain_text(text, timeout=WAIT_MS)


async def sign_in(page: Page) -> None:
    """Consent (asked once), then the contract number and the password, in the chat."""
    await page.locator("header button.sign").click()
    await page.get_by_label(t("widget-consent-label")).check()
    await page.get_by_role("button", name=t("widget-continue")).click()
    await page.get_by_label(t("widget-login-label")).fill("D-0001")
    await page.get_by_label(t("widget-password-label")).fill("demo-password")
    await page.locator("form.sheet-form button[type=submit]").click()
    await expect(page.locator(".status")).to_contain_text("Вы вошли", timeout=WAIT_MS)


def count(page: Page, selector: str, text: str) -> Locator:
    return page.locator(selector).filter(has_text=re.compile("^" + re.escape(text) + "$"))


async def test_widget_script_is_small_and_carries_both_languages(app):
    client, base = app
    r = client.get("/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert len(gzip.compress(r.content)) < 30 * 1024
    script = r.text
    for locale in ("ru", "en"):
        assert json.dumps(catalog().text("widget-open", locale), ensure_ascii=False) in script
    assert "/*PD_STRINGS*/" not in script
    again = client.get("/widget.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304

    page = client.get("/?lang=en")
    assert page.status_code == 200
    assert f'src="{base}/widget.js"' in page.text and 'data-locale="en"' in page.text
    assert "D-0001" in page.text  # the demo account, since the demo data is seeded
    assert "Дом 100" in page.text  # the seeded tariffs, from the database
    assert client.get("/?lang=ru").text.count("СетьПлюс") >= 1


async def test_a_visitor_does_every_job_in_the_chat(app, context: BrowserContext):
    _, base = app
    page = await context.new_page()
    await page.goto(f"{base}/?lang=ru")
    tag = page.locator('script[src$="/widget.js"]')
    assert await tag.get_attribute("data-server") == base
    await page.get_by_role("button", name=t("widget-open")).click()
    await expect(page.get_by_label(t("widget-input-label"))).to_be_focused()

    # anonymous: the tariffs
    await say(page, "какие у вас тарифы?")
    await shown(page, "Дом 100")

    # signing in inside the chat: consent first, then the contract number and password
    await sign_in(page)
    await say(page, "какой у меня баланс?")
    await shown(page, "350")
    await page.screenshot(path=str(SHOTS / "widget-desktop.png"))

    # a top-up: the payment link opens the sandbox in a new tab; back here, the credit shows
    await say(page, "пополнить баланс на 500 рублей")
    pay = page.get_by_role("link", name=re.compile(t("widget-pay", amount="").strip()))
    await expect(pay.last).to_be_visible(timeout=WAIT_MS)
    assert await pay.last.get_attribute("target") == "_blank"
    assert "noopener" in (await pay.last.get_attribute("rel") or "")
    async with context.expect_page() as opened:
        await pay.last.click()
    checkout = await opened.value
    await checkout.get_by_role("button", name="Оплатить").click()
    await checkout.wait_for_url("**/pay/status/**")
    await checkout.close()
    await page.bring_to_front()
    await shown(page, "850")

    # a ticket
    await say(page, "хочу оставить заявку")
    await shown(page, t("dialogs-support-ticket-describe"))
    await say(page, "Роутер мигает красным с утра, интернет пропадает каждые десять минут")
    await page.get_by_role(
        "button", name=t("dialogs-support-category", category="equipment")
    ).click()
    await shown(page, "Создать заявку?")
    await page.locator(".msg").last.get_by_role("button").first.click()
    await expect(page.locator(".log")).to_contain_text(re.compile(r"Заявка №\d+ создана"),
                                                      timeout=WAIT_MS)  # fmt: skip

    # a document: downloaded with the customer's token, as a PDF
    await say(page, "пришлите документы")
    await page.locator(".msg").last.get_by_role("button", name=re.compile("Договор")).click()
    download_button = page.locator(".log button", has_text=t("widget-download", filename=""))
    await expect(download_button.first).to_be_visible(timeout=WAIT_MS)
    async with page.expect_download() as downloading:
        await download_button.first.click()
    download = await downloading.value
    assert (await _read(await download.path())).startswith(b"%PDF")

    # a person
    await say(page, "позовите оператора")
    await shown(page, "оператору")
    # the bot's typing "off" ends the turn; leaving before it is another test's matter
    await expect(page.locator(".typing")).to_have_text("")
    await page.wait_for_timeout(500)
    await page.close()


async def test_reload_and_a_dropped_socket_lose_and_repeat_nothing(app, context: BrowserContext):
    _, base = app
    page = await context.new_page()
    await open_chat(page, base)
    await say(page, "привет")
    await expect(page.locator(".msg")).to_have_count(2, timeout=WAIT_MS)

    # the socket drops; a message typed meanwhile waits, goes after the reconnect, runs once
    await page.evaluate("window.__sockets.at(-1).close()")
    await say(page, "какие тарифы?")
    await shown(page, "Дом 100")
    await expect(page.locator(".status")).to_have_text(t("widget-online"), timeout=WAIT_MS)
    assert await page.evaluate("window.__sockets.length") == 2
    assert await count(page, ".msg.customer .text", "какие тарифы?").count() == 1
    assert await page.locator(".msg", has_text="Дом 100").count() == 1
    before = await page.locator(".msg").all_inner_texts()

    # a reload: the same conversation, each message once, the chat open again
    await page.reload()
    await expect(page.locator(".msg")).to_have_count(len(before), timeout=WAIT_MS)
    assert await page.locator(".msg").all_inner_texts() == before

    # another tab of the same visitor shares the conversation and sees the first tab's turns
    other = await context.new_page()
    await open_chat(other, base)
    await expect(other.locator(".msg")).to_have_count(len(before), timeout=WAIT_MS)
    await say(other, "спасибо")
    await expect(page.locator(".msg.customer", has_text="спасибо")).to_have_count(
        1, timeout=WAIT_MS
    )
    await other.close()
    await page.close()


async def test_bad_input_is_refused_and_shown_as_text(app, context: BrowserContext):
    _, base = app
    page = await context.new_page()
    alerts: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:  # an alert() would mean the payload ran
        alerts.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    await open_chat(page, base)

    payload = "<img src=x onerror=alert(1)>"
    await say(page, payload)
    mine = page.locator(".msg.customer .text").last
    await expect(mine).to_have_text(payload)
    await expect(mine).not_to_have_attribute("data-seq", "")  # acked: the server took it
    await expect(page.locator(".msg")).to_have_count(2, timeout=WAIT_MS)  # and answered
    assert await page.locator("#provider-desk-widget img").count() == 0
    assert alerts == []

    # an oversized frame on the widget's own socket: an error in the visitor's language
    big = json.dumps({"type": "message", "client_msg_id": "big-1", "text": "я" * 5000})
    await page.evaluate("big => window.__sockets.at(-1).send(big)", big)
    error = page.locator(".msg.error", has_text=t("dialogs-webchat-frame-too-large"))
    await expect(error).to_have_count(1, timeout=WAIT_MS)
    await page.close()


async def test_a_visitor_attaches_a_photo_and_gets_it_back(app, context: BrowserContext):
    _, base = app
    page = await context.new_page()
    await open_chat(page, base)
    picker = page.locator("#provider-desk-widget input[type=file]")
    await expect(page.get_by_role("button", name=t("widget-attach"))).to_be_visible()

    await picker.set_input_files({"name": "router.png", "mimeType": "image/png", "buffer": PNG})
    mine = page.locator(".msg.customer").last
    await expect(mine.get_by_role("button", name=t("widget-download", filename="router.png")))\
        .to_be_visible(timeout=WAIT_MS)  # fmt: skip
    await expect(mine).to_have_attribute("data-seq", re.compile(r"^\d+$"), timeout=WAIT_MS)
    async with page.expect_download() as downloading:
        await mine.get_by_role("button").click()
    download = await downloading.value
    assert await _read(await download.path()) == PNG

    # refused before upload: too large, or not a photo, PDF or text
    big = FilePayload(name="big.png", mimeType="image/png", buffer=b"\0" * (5 * 1024 * 1024 + 1))
    await picker.set_input_files(big)
    await expect(page.locator(".msg.error", has_text=t("widget-file-too-large", max="5")))\
        .to_have_count(1)  # fmt: skip
    exe = FilePayload(name="setup.exe", mimeType="application/x-msdownload", buffer=b"MZ\0\0")
    await picker.set_input_files(exe)
    await expect(page.locator(".msg.error", has_text=t("widget-file-type"))).to_have_count(1)
    # refused by the server, which reads the bytes, not the name
    fake = FilePayload(name="photo.png", mimeType="image/png", buffer=b"MZ\x90\x00\xff\xfe\x00")
    await picker.set_input_files(fake)
    await expect(page.locator(".msg.error", has_text=t("error-file-type-not-allowed")))\
        .to_have_count(1, timeout=WAIT_MS)  # fmt: skip
    assert await page.locator(".msg.customer").count() == 1
    await page.close()


async def test_the_host_page_identifies_the_customer(app, context: BrowserContext):
    """A cabinet passes its customer's token: consent is asked first (once), a reload
    re-identifies, ProviderDesk.logout() makes the chat anonymous again."""
    client, base = app
    r = client.post("/api/v1/auth/login", json={"login": "D-0001", "password": "demo-password"})
    assert r.status_code == 200, r.text
    token = r.json()["tokens"]["access_token"]
    page = await context.new_page()
    await open_chat(page, base)
    await page.evaluate("token => window.ProviderDesk.identify(token)", token)
    await page.get_by_label(t("widget-consent-label")).check()
    await page.get_by_role("button", name=t("widget-continue")).click()
    await expect(page.locator(".status")).to_contain_text("Вы вошли", timeout=WAIT_MS)
    await say(page, "баланс")
    await shown(page, "На счёте")  # the amount depends on the other tests' top-ups

    await page.reload()
    await expect(page.locator(".status")).to_contain_text("Вы вошли", timeout=WAIT_MS)
    await expect(page.get_by_label(t("widget-consent-label"))).to_have_count(0)  # asked once

    await page.evaluate("window.ProviderDesk.logout()")
    await expect(page.locator(".status")).to_have_text(t("widget-online"), timeout=WAIT_MS)
    await expect(page.locator("header button.sign")).to_have_text(t("widget-sign-in"))
    await page.evaluate("window.ProviderDesk.close()")
    await expect(page.locator("#pd-panel")).to_be_hidden()
    await page.close()


async def test_a_foreign_origin_is_refused(app, browser: Browser):
    client, base = app
    ctx = await browser.new_context(locale="ru-RU")
    page = await ctx.new_page()
    # the demo page itself, from another origin of the same machine (localhost is not
    # 127.0.0.1 to a browser): neither CORS_ORIGINS nor WIDGET_ORIGINS admit it
    await page.goto(base.replace("127.0.0.1", "localhost") + "/?lang=ru")
    session = client.post("/api/v1/webchat/session", json={}).json()
    code = await page.evaluate(
        """([url, token]) => new Promise(resolve => {
            const socket = new WebSocket(url);
            socket.onopen = () => socket.send(JSON.stringify({type: "auth", session_token: token}));
            socket.onmessage = (e) => resolve("frame: " + e.data);
            socket.onclose = (e) => resolve(e.code);
            setTimeout(() => resolve("no close within 10 s"), 10000);
        })""",
        [base.replace("http", "ws") + "/ws/chat", session["session_token"]],
    )
    assert code == 4403
    # the widget on that page never gets to talk: the server refuses it
    await page.get_by_role("button", name=t("widget-open")).click()
    await page.wait_for_timeout(3000)
    await expect(page.locator(".status")).not_to_have_text(t("widget-online"))
    assert await page.locator(".msg.customer, .msg:not(.error):not(.system)").count() == 0
    await ctx.close()


async def test_phone_width_and_keyboard_alone(app, browser: Browser):
    _, base = app
    ctx = await browser.new_context(locale="ru-RU", viewport={"width": 360, "height": 740})
    page = await ctx.new_page()
    await page.goto(f"{base}/?lang=ru")
    focused = "document.activeElement?.shadowRoot?.activeElement?.className || ''"
    for _ in range(30):  # Tab through the page's links to the launcher
        await page.keyboard.press("Tab")
        if await page.evaluate(focused) == "launcher":
            break
    assert await page.evaluate(focused) == "launcher"
    launcher = page.locator(".launcher")
    assert (
        await launcher.evaluate("b => getComputedStyle(b).outlineStyle") != "none"
    )  # visible focus
    await page.keyboard.press("Enter")
    panel = page.locator("#pd-panel")
    await expect(panel).to_be_visible()
    box = await panel.bounding_box()
    assert box is not None and box["width"] == 360 and box["x"] == 0  # the whole screen
    await expect(page.get_by_label(t("widget-input-label"))).to_be_focused()
    await expect(page.locator(".status")).to_have_text(t("widget-online"), timeout=WAIT_MS)
    await page.keyboard.type("какие тарифы?")
    await page.keyboard.press("Enter")
    await shown(page, "Дом 100")
    # a button of the answer is reachable and pressed with the keyboard too
    await page.locator(".log .buttons button").last.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator(".msg.customer")).to_have_count(2, timeout=WAIT_MS)
    await page.screenshot(path=str(SHOTS / "widget-mobile.png"))
    await page.get_by_label(t("widget-input-label")).focus()
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    assert await page.evaluate(focused) == "launcher"  # focus back where the chat was opened
    await ctx.close()


@pytest.mark.parametrize("color", ["#ffff00", "#777777", "#0b5cab", "#000", "#1a7f37"])
async def test_text_on_any_brand_colour_is_readable(app, browser: Browser, color: str):
    _, base = app
    page = await browser.new_page()
    await page.set_content(
        f'<!doctype html><html lang="ru"><body><script src="{base}/widget.js" '
        f'data-server="{base}" data-color="{color}" data-locale="ru"></script></body></html>'
    )
    launcher = page.locator(".launcher")
    await expect(launcher).to_be_visible()
    fg, bg = await launcher.evaluate(
        "b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]"
    )
    assert _contrast(fg, bg) >= 4.5, (color, fg, bg)
    await page.close()


async def test_axe_finds_no_serious_violations_in_the_open_widget(app, context: BrowserContext):
    _, base = app
    page = await context.new_page()
    await open_chat(page, base)
    await say(page, "какие тарифы?")
    await shown(page, "Дом 100")
    results = await Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == []
    # the sign-in form too
    await page.locator("header button.sign").click()
    await expect(page.get_by_label(t("widget-consent-label"))).to_be_visible()
    results = await Axe().run(page)
    assert [v["id"] for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")] == []  # fmt: skip
    await page.close()


async def _read(path: Path) -> bytes:
    return await asyncio.to_thread(path.read_bytes)


def _contrast(a: str, b: str) -> float:
    def lum(css: str) -> float:
        r, g, bl = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
        lin = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in (r, g, bl)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
