"""Several webhook processes (each its own app, connection pools, Redis client and aiogram Bot,
sharing PostgreSQL and Redis) receiving one chat's updates at once, as Telegram does with
parallel webhook connections and redeliveries: every update is processed exactly once, and a
chat's updates in update_id order. An echo engine stands in for the dialogs engine so that
the order of the replies shows the order of processing."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import func, select

from backend.app import create_app
from backend.models import TelegramUpdate
from backend.state import Resources
from bot import webhook
from bot.factory import create_dispatcher
from dialogs.types import Inbound, Outbound, Text
from tests.support.telegram_standin import TelegramStandIn

CHAT = 7601
SECRET = "webhook-secret_1"


class EchoEngine:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        self.seen.append(str(inbound.external_id))
        await asyncio.sleep(random.uniform(0, 0.01))  # a turn takes a little while
        return [Text(f"re: {inbound.text}")]


@pytest.fixture
async def processes(
    resources: Resources, telegram: TelegramStandIn
) -> AsyncIterator[list[tuple[AsyncClient, EchoEngine]]]:
    settings = resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(telegram.token),
            "telegram_api_base": telegram.base_url,
            "telegram_mode": "webhook",
            "telegram_webhook_secret": SecretStr(SECRET),
        }
    )
    made: list[tuple[AsyncClient, EchoEngine]] = []
    owned: list[tuple[Resources, Bot]] = []
    for _ in range(3):
        res = Resources.create(settings)
        bot = Bot(
            telegram.token,
            session=AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url)),
        )
        engine = EchoEngine()
        # what run_webhook_role registers for the process once the bot is built
        webhook._BOTS[id(res)] = webhook.WebhookBot(bot, create_dispatcher(res, engine))  # type: ignore[arg-type]
        app = create_app(settings, resources=res, roles=[])
        client = AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver")
        made.append((client, engine))
        owned.append((res, bot))
    try:
        yield made
    finally:
        for (client, _), (res, bot) in zip(made, owned, strict=True):
            await client.aclose()
            webhook._BOTS.pop(id(res), None)
            await bot.session.close()
            await res.close()


async def _post(client: AsyncClient, update: dict[str, object]) -> int:
    r = await client.post(
        webhook.PATH, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    return r.status_code


async def test_one_chat_across_processes_once_and_in_order(processes, telegram, session):
    updates = [telegram.message(CHAT, f"m{n}") for n in range(12)]
    # each update reaches every process at once (a redelivery racing the first delivery),
    # one update after the other, as Telegram sends one chat's updates
    for update in updates:
        statuses = await asyncio.gather(*(_post(client, update) for client, _ in processes))
        assert statuses == [200] * len(processes)

    assert telegram.sent_texts(CHAT) == [f"re: m{n}" for n in range(12)]
    seen = [external for _, engine in processes for external in engine.seen]
    assert sorted(seen) == sorted(str(u["update_id"]) for u in updates)
    stored = await session.scalar(select(func.count()).select_from(TelegramUpdate))
    assert stored == 12


async def test_a_storm_of_redeliveries_is_processed_once(processes, telegram, session):
    updates = [telegram.message(CHAT, f"s{n}") for n in range(10)]
    posts = [(client, u) for u in updates for client, _ in processes for _ in range(2)]
    random.shuffle(posts)
    statuses = await asyncio.gather(*(_post(client, u) for client, u in posts))
    assert set(statuses) == {200}

    sent = telegram.sent_texts(CHAT)
    assert sorted(sent) == sorted(f"re: s{n}" for n in range(10))  # each exactly once
    done = await session.scalar(
        select(func.count()).select_from(TelegramUpdate).where(TelegramUpdate.status == "done")
    )
    assert done == 10
