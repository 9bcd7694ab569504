"""Building the Bot and the Dispatcher. Everything is made by factories: a module-level Router
can be attached to one Dispatcher only, and tests (and webhook + polling in one process) build
several."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

from backend.config import Settings
from backend.logging import get_logger
from backend.state import Resources
from bot import handlers, linking

if TYPE_CHECKING:
    from dialogs.engine import Engine

log = get_logger("bot")

# Telegram asks for a few seconds on a 429; a longer pause is a flood ban we should not sit
# out inside one update (the row stays failed and is retried later instead).
MAX_RETRY_SLEEP = 30.0
MAX_RETRIES = 3


class MissingBotToken(RuntimeError):
    pass


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Honour 429 `retry_after`: sleep and repeat the same request, within bounds."""

    def __init__(self, max_retries: int = MAX_RETRIES, max_sleep: float = MAX_RETRY_SLEEP) -> None:
        self.max_retries = max_retries
        self.max_sleep = max_sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt >= self.max_retries or exc.retry_after > self.max_sleep:
                    raise
                attempt += 1
                log.warning(
                    "telegram flood control",
                    method=type(method).__name__,
                    retry_after=exc.retry_after,
                    attempt=attempt,
                )
                await asyncio.sleep(exc.retry_after)


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """The Bot for settings.telegram_bot_token, talking to settings.telegram_api_base (any Bot
    API server: Telegram's, a local one, the tests' stand-in). `session` replaces the HTTP
    session (tests)."""
    if settings.telegram_bot_token is None:
        raise MissingBotToken("TELEGRAM_BOT_TOKEN is not set")
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    bot = Bot(settings.telegram_bot_token.get_secret_value(), session=session)
    bot.session.middleware(RetryAfterMiddleware())
    return bot


def create_dispatcher(resources: Resources, engine: Engine) -> Dispatcher:
    """A Dispatcher with fresh routers and the long-lived services injected by name
    (`resources`, `engine` in handler signatures)."""
    dp = Dispatcher(resources=resources, engine=engine)
    dp.update.outer_middleware(handlers.IdentityMiddleware(resources))
    dp.include_router(linking.get_router())  # /start <token>, contacts, /unlink first
    dp.include_router(handlers.get_router())
    return dp
