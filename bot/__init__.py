"""Telegram adapter (aiogram 3): Telegram updates -> dialogs.Inbound, dialogs.Outbound -> Telegram."""
