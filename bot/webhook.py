"""Webhook mode: Telegram POSTs updates to /telegram/webhook on the FastAPI app. The secret
header is compared in constant time, the update is stored in the inbox before the answer (a
failure to store answers 5xx, so Telegram redelivers) and processed once, in chat order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.logging import get_logger
from backend.state import Resources
from bot import inbox
from bot.runner import build, max_concurrent_chats, set_commands_safely

log = get_logger("bot.webhook")

PATH = "/telegram/webhook"


@dataclass
class WebhookBot:
    bot: Bot
    dispatcher: Dispatcher


# One bot per process; the route finds it through the process's Resources.
_BOTS: dict[int, WebhookBot] = {}


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def get_router() -> APIRouter:
    router = APIRouter(tags=["telegram"])

    @router.post(PATH, include_in_schema=False)
    async def telegram_webhook(request: Request) -> JSONResponse:
        resources: Resources = request.app.state.resources
        settings = resources.settings
        expected = settings.telegram_webhook_secret
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if expected is None or not secrets.compare_digest(
            given.encode(), expected.get_secret_value().encode()
        ):
            return _error(401, "invalid_secret", "wrong or missing secret token")
        holder = _BOTS.get(id(resources))
        if holder is None:
            return _error(503, "bot_not_ready", "the bot is starting")
        try:
            update: Any = json.loads(await request.body())
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's stack
            return _error(400, "bad_request", "the body is not JSON")
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return _error(400, "bad_request", "not a Telegram update")
        await inbox.process_update(resources, holder.bot, holder.dispatcher, update)
        return JSONResponse({"ok": True})

    return router


async def run_webhook_role(resources: Resources, stop: asyncio.Event) -> None:
    """Background role for TELEGRAM_MODE=webhook: build the bot, register the webhook at
    PUBLIC_URL (with the secret), recover what a crash left, serve until the app stops."""
    settings = resources.settings
    bot, dp = await build(settings, resources)
    _BOTS[id(resources)] = WebhookBot(bot, dp)
    keeper: asyncio.Task[None] | None = None
    try:
        await dp.emit_startup(bot=bot)
        secret = settings.telegram_webhook_secret
        await bot.set_webhook(
            settings.public_url.rstrip("/") + PATH,
            secret_token=secret.get_secret_value() if secret else None,
            allowed_updates=dp.resolve_used_update_types(),
            # Telegram's parallel deliveries, bounded like the poller's (one connection each)
            max_connections=max_concurrent_chats(settings),
            drop_pending_updates=False,
        )
        await inbox.inbox_of(resources, dp).locks.sign_of_life(force=True)
        await inbox.recover(resources, bot, dp)
        # failed and left-behind rows are retried while the process runs
        keeper = asyncio.create_task(
            inbox.maintain(resources, bot, dp, stop, concurrency=max_concurrent_chats(settings))
        )
        await set_commands_safely(bot)
        log.info("telegram webhook registered", url=settings.public_url.rstrip("/") + PATH)
        await stop.wait()
    finally:
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        _BOTS.pop(id(resources), None)
        await dp.emit_shutdown(bot=bot)
        await bot.session.close()
