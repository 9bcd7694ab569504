"""Building the Bot and the Dispatcher. Everything is made by factories: a module-level Router
can be attached to one Dispatcher only, and tests (and webhook + polling in one process) build
several."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerPreCheckoutQuery,
    DeleteMessage,
    DeleteWebhook,
    GetFile,
    GetMe,
    GetUpdates,
    SendChatAction,
    SetMyCommands,
    SetWebhook,
)
from aiogram.methods.base import Response

from backend.config import Settings
from backend.state import Resources
from bot import handlers, linking
from bot.pacing import CHAT_METHODS, GLOBAL_METHODS, MAX_RETRIES, Pacer, PacingMiddleware

if TYPE_CHECKING:
    from backend.redis import Redis
    from dialogs.engine import Engine


class MissingBotToken(RuntimeError):
    pass


# aiogram parametrizes `Response[<method's return type>]` on every call, and pydantic keeps
# parametrized generics only weakly: after a garbage collection the next call rebuilds the
# model's schema (milliseconds). Holding them here keeps them built.
_RESPONSE_TYPES = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (
        *CHAT_METHODS, *GLOBAL_METHODS, DeleteMessage, AnswerCallbackQuery,
        AnswerPreCheckoutQuery, SendChatAction, GetUpdates, GetMe, GetFile, SetWebhook,
        DeleteWebhook, SetMyCommands,
    )
)  # fmt: skip


def create_bot(
    settings: Settings,
    session: BaseSession | None = None,
    *,
    redis: Redis | None = None,
    pacer: Pacer | None = None,
    max_retries: int = MAX_RETRIES,
) -> Bot:
    """The Bot for settings.telegram_bot_token, talking to settings.telegram_api_base (any Bot
    API server: Telegram's, a local one, the tests' stand-in). `session` replaces the HTTP
    session (tests).

    Every Bot is paced (bot/pacing.py): through `redis` its messages share Telegram's limits
    with every other process of this bot; without it (a short-lived Bot that only fetches
    files) it paces alone. `pacer` replaces the pacer made from settings (tests give their
    own key prefix). A 429 is waited out and the request repeated up to `max_retries` times
    (0: raised at once, for callers that reschedule instead)."""
    if settings.telegram_bot_token is None:
        raise MissingBotToken("TELEGRAM_BOT_TOKEN is not set")
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    bot = Bot(settings.telegram_bot_token.get_secret_value(), session=session)
    if pacer is None:
        pacer = Pacer.from_settings(settings, redis)
    bot.session.middleware(PacingMiddleware(pacer, max_retries=max_retries))
    return bot


def create_dispatcher(resources: Resources, engine: Engine) -> Dispatcher:
    """A Dispatcher with fresh routers and the long-lived services injected by name
    (`resources`, `engine` in handler signatures)."""
    dp = Dispatcher(resources=resources, engine=engine)
    dp.update.outer_middleware(handlers.IdentityMiddleware(resources))
    dp.update.outer_middleware(handlers.UnreachableMiddleware(resources))
    dp.include_router(linking.get_router())  # /start <token>, contacts, /unlink first
    dp.include_router(handlers.get_router())
    dp.include_router(handlers.get_group_router())
    return dp
