"""The bot's command menu (setMyCommands) per language: Russian and English by language_code,
and the default list (Russian, the product's default locale) for every other language."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand

from backend.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, t

COMMANDS = (
    "start",
    "balance",
    "pay",
    "tariffs",
    "tickets",
    "documents",
    "agent",
    "language",
    "help",
)


def commands_for(locale: str) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=t(f"telegram-command-{name}", locale))
        for name in COMMANDS
    ]


async def set_commands(bot: Bot) -> None:
    """Register the menu for every supported language and the default. Idempotent: Telegram
    replaces the list, so it is safe at every start."""
    for locale in SUPPORTED_LOCALES:
        await bot.set_my_commands(commands_for(locale), language_code=locale)
    await bot.set_my_commands(commands_for(DEFAULT_LOCALE))
