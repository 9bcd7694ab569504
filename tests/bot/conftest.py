"""Fixtures for bot tests: a Telegram Bot API stand-in on a free local port and a real aiogram
Bot pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from tests.support.telegram_standin import TelegramStandIn


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramStandIn]:
    standin = TelegramStandIn()
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


@pytest.fixture
async def bot(telegram: TelegramStandIn) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url))
    bot = Bot(telegram.token, session=session)
    try:
        yield bot
    finally:
        await bot.session.close()
