"""Telegram adapter (aiogram 3): Telegram updates -> dialogs.Inbound, Outbound -> Telegram."""
