"""Building the Bot and the Dispatcher. Everything is made by factories: a module-level Router
can be attached to one Dispatcher only, and tests (and webhook + polling in one process) build
several."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerPreCheckoutQuery,
    CopyMessage,
    DeleteMessage,
    DeleteWebhook,
    EditMessageReplyMarkup,
    EditMessageText,
    ForwardMessage,
    GetFile,
    GetMe,
    GetUpdates,
    SendAnimation,
    SendAudio,
    SendChatAction,
    SendContact,
    SendDocument,
    SendInvoice,
    SendLocation,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    SendSticker,
    SendVideo,
    SendVoice,
    SetMyCommands,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType

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


# Methods that put a new message into a chat (edits, chat actions and callback answers don't).
PACED_METHODS = (
    SendMessage, SendDocument, SendPhoto, SendInvoice, SendVoice, SendSticker, SendVideo,
    SendAudio, SendAnimation, SendContact, SendLocation, SendMediaGroup, CopyMessage,
    ForwardMessage,
)  # fmt: skip


class ChatPacer(BaseRequestMiddleware):
    """Paces bursts of messages to one chat: Telegram asks for about one message a second per
    chat and tolerates short bursts, then answers 429. A generic cell rate algorithm per chat:
    `burst` messages go at once, the next ones one per `interval` seconds. The slot is taken
    before sleeping, so concurrent senders to one chat queue in order.

    Hand-written because aiogram has no pacing of its own (only the 429 retry) and a limiter
    library would need its own storage; this is per process, which suffices because a chat's
    updates are processed under one Redis lock at a time (bot/chat_locks.py). Broadcasts to many
    chats (30 messages/s overall) are paced by whoever sends them, not here."""

    def __init__(self, burst: int = 5, interval: float = 1.0, max_chats: int = 10_000) -> None:
        self.burst = burst
        self.interval = interval
        self.max_chats = max_chats
        self._tat: dict[int | str, float] = {}  # theoretical arrival time per chat

    def delay(self, chat_id: int | str, now: float) -> float:
        """Reserve the chat's next slot; seconds to wait before sending in it."""
        if len(self._tat) >= self.max_chats:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        tat = max(self._tat.get(chat_id, now), now) + self.interval
        self._tat[chat_id] = tat
        return max(0.0, tat - now - self.burst * self.interval)

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        chat_id = getattr(method, "chat_id", None)
        if isinstance(method, PACED_METHODS) and isinstance(chat_id, int | str):
            wait = self.delay(chat_id, time.monotonic())
            if wait > 0:
                log.info("telegram chat paced", chat_id=chat_id, wait=round(wait, 2))
                await asyncio.sleep(wait)
        return await make_request(bot, method)


# aiogram parametrizes `Response[<method's return type>]` on every call, and pydantic keeps
# parametrized generics only weakly: after a garbage collection the next call rebuilds the
# model's schema (milliseconds). Holding them here keeps them built.
_RESPONSE_TYPES = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (
        *PACED_METHODS, EditMessageText, EditMessageReplyMarkup, DeleteMessage,
        AnswerCallbackQuery, AnswerPreCheckoutQuery, SendChatAction, GetUpdates, GetMe, GetFile,
        SetWebhook, DeleteWebhook, SetMyCommands,
    )
)  # fmt: skip


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """The Bot for settings.telegram_bot_token, talking to settings.telegram_api_base (any Bot
    API server: Telegram's, a local one, the tests' stand-in). `session` replaces the HTTP
    session (tests)."""
    if settings.telegram_bot_token is None:
        raise MissingBotToken("TELEGRAM_BOT_TOKEN is not set")
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    bot = Bot(settings.telegram_bot_token.get_secret_value(), session=session)
    # the pacer first (outermost): a request repeated after a 429 keeps its one slot
    bot.session.middleware(ChatPacer())
    bot.session.middleware(RetryAfterMiddleware())
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
