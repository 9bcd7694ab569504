"""Files customers sent to the bot, fetched for the agent console: `getFile`, then the download
from the Bot API server's file endpoint. The Bot API serves files up to 20 MB and a file_id
stays valid for at least an hour (usually much longer); anything else is `FileUnavailable`."""

from __future__ import annotations

import io

from aiogram.exceptions import TelegramAPIError
from aiohttp import ClientError

from backend.config import Settings
from backend.errors import AppError, ServiceUnavailable
from backend.logging import get_logger
from bot.factory import create_bot

log = get_logger("bot.files")

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API's own limit for getFile


class TelegramNotConfigured(ServiceUnavailable):
    code = "telegram_unavailable"
    detail = "the Telegram bot is not configured"


class FileUnavailable(AppError):
    code = "attachment_unavailable"
    status = 502
    detail = "Telegram did not give the file (too large, expired or unreachable)"


async def fetch_file(settings: Settings, file_id: str) -> bytes:
    """The file's bytes. A short-lived Bot: agents open attachments rarely, and the API
    process may not run the bot at all (polling runs elsewhere)."""
    if settings.telegram_bot_token is None:
        raise TelegramNotConfigured()
    bot = create_bot(settings)
    try:
        info = await bot.get_file(file_id)
        if info.file_path is None or (info.file_size or 0) > MAX_DOWNLOAD_BYTES:
            raise FileUnavailable()
        buffer = io.BytesIO()
        await bot.download_file(info.file_path, destination=buffer, timeout=60)
        return buffer.getvalue()
    except (TimeoutError, TelegramAPIError, ClientError) as exc:
        log.warning("telegram file not fetched", error=str(exc))
        raise FileUnavailable() from exc
    finally:
        await bot.session.close()
