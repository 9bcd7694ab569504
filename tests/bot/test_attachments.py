"""A customer's photos, files and voice messages reach the agent who holds the chat: the bot
stays silent, the agent API lists them with the message and serves each one, fetched from the
Bot API server (getFile + download) on demand. Without an agent the bot asks for text."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from backend.app import create_app
from backend.i18n import t
from backend.models import Channel, ChannelIdentity, Role
from backend.state import Resources
from bot import inbox
from bot.factory import create_dispatcher
from dialogs.engine import Engine
from dialogs.nlu.service import NLUService
from tests.factories import access_token_for, auth_header, make_customer, make_user
from tests.support.telegram_standin import TelegramStandIn

CHAT = 7401


@pytest.fixture
def tg_resources(resources: Resources, telegram: TelegramStandIn) -> Resources:
    settings = resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(telegram.token),
            "telegram_api_base": telegram.base_url,
        }
    )
    return dataclasses.replace(resources, settings=settings)


@pytest.fixture
async def api(tg_resources: Resources) -> AsyncIterator[AsyncClient]:
    app = create_app(tg_resources.settings, resources=tg_resources, roles=[])
    transport = ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def dp(tg_resources: Resources) -> Dispatcher:
    return create_dispatcher(tg_resources, Engine(tg_resources, NLUService(rasa=None)))


async def _linked(session: Any) -> int:
    _, customer = await make_customer(session)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(CHAT))
    )
    await session.commit()
    return customer.id


async def _held(
    session: Any, res: Resources, bot: Bot, dp: Dispatcher, telegram: TelegramStandIn,
    api: AsyncClient,
) -> tuple[int, dict[str, str]]:  # fmt: skip
    """The customer asks for an agent; an agent claims. (conversation id, agent headers)"""
    await inbox.process_update(res, bot, dp, telegram.command(CHAT, "/agent"))
    agent = await make_user(session, role=Role.agent)
    await session.commit()
    headers = auth_header(access_token_for(res.settings, agent, mfa=True))
    queue = (await api.get("/api/v1/agent/conversations", headers=headers)).json()["items"]
    (conv,) = queue
    claimed = await api.post(f"/api/v1/agent/conversations/{conv['id']}/claim", headers=headers)
    assert claimed.status_code == 200
    return int(conv["id"]), headers


async def test_media_reach_the_agent_who_holds_the_chat(
    session, tg_resources, bot, telegram, dp, api
):
    await _linked(session)
    conv_id, headers = await _held(session, tg_resources, bot, dp, telegram, api)
    sent_before = len(telegram.calls("sendMessage"))

    jpeg = b"\xff\xd8\xff\xe0 router lights"
    html = b"<script>alert(1)</script>"
    for update in (
        telegram.photo(CHAT, caption="мигает красным", content=jpeg),
        telegram.document(CHAT, filename="page.html", content=html, mime_type="text/html"),
        telegram.voice(CHAT),
        telegram.sticker(CHAT),
    ):
        await inbox.process_update(tg_resources, bot, dp, update)
    # the bot stays silent while the agent holds the chat
    assert len(telegram.calls("sendMessage")) == sent_before

    detail = (await api.get(f"/api/v1/agent/conversations/{conv_id}", headers=headers)).json()
    inbound = [m for m in detail["messages"] if m["direction"] == "in" and m["attachments"]]
    assert [m["attachments"][0]["kind"] for m in inbound] == ["photo", "document", "voice",
                                                              "sticker"]  # fmt: skip
    photo, document, voice, _ = inbound
    assert photo["text"] == "мигает красным"
    assert document["attachments"][0]["filename"] == "page.html"

    got = await api.get(photo["attachments"][0]["url"], headers=headers)
    assert got.status_code == 200, got.text
    assert got.content == jpeg
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"].startswith("inline")
    assert got.headers["x-content-type-options"] == "nosniff"

    # active content is never served inline from the console's origin
    got = await api.get(document["attachments"][0]["url"], headers=headers)
    assert got.status_code == 200
    assert got.content == html
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''page.html"

    got = await api.get(voice["attachments"][0]["url"], headers=headers)
    assert got.status_code == 200 and got.headers["content-type"] == "audio/ogg"
    assert [c.method for c in telegram.calls("getFile")] == ["getFile"] * 3

    # no such index, another conversation's message, no staff token
    url = photo["attachments"][0]["url"]
    missing = await api.get(url[:-1] + "5", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"] == "attachment_not_found"
    wrong = url.replace(f"/conversations/{conv_id}/", f"/conversations/{conv_id + 1000}/")
    assert (await api.get(wrong, headers=headers)).status_code == 404
    assert (await api.get(url)).status_code == 401


async def test_a_file_telegram_no_longer_gives_is_a_clear_error(
    session, tg_resources, bot, telegram, dp, api
):
    await _linked(session)
    conv_id, headers = await _held(session, tg_resources, bot, dp, telegram, api)
    await inbox.process_update(tg_resources, bot, dp, telegram.photo(CHAT))
    detail = (await api.get(f"/api/v1/agent/conversations/{conv_id}", headers=headers)).json()
    url = detail["messages"][-1]["attachments"][0]["url"]

    telegram.fail_next("getFile", status=400, description="Bad Request: invalid file_id")
    got = await api.get(url, headers=headers)
    assert got.status_code == 502
    assert got.json()["error"] == "attachment_unavailable"


async def test_without_telegram_configured_the_attachment_is_unavailable(
    session, tg_resources, bot, telegram, dp, resources
):
    await _linked(session)
    plain = create_app(resources.settings, resources=resources, roles=[])
    async with AsyncClient(transport=ASGITransport(app=plain), base_url="http://testserver") as api:
        conv_id, headers = await _held(session, tg_resources, bot, dp, telegram, api)
        await inbox.process_update(tg_resources, bot, dp, telegram.photo(CHAT))
        detail = (await api.get(f"/api/v1/agent/conversations/{conv_id}", headers=headers)).json()
        got = await api.get(detail["messages"][-1]["attachments"][0]["url"], headers=headers)
    assert got.status_code == 503
    assert got.json()["error"] == "telegram_unavailable"


async def test_without_an_agent_the_bot_asks_for_text(session, tg_resources, bot, telegram, dp):
    await _linked(session)
    await inbox.process_update(tg_resources, bot, dp, telegram.photo(CHAT))
    assert t("dialogs-unsupported-input", "ru") in telegram.sent_texts(CHAT)[0]
