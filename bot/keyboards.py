"""Keyboards from the engine's neutral buttons. A button's callback_data is its payload
(`v1:<flow>:<step>:<arg>`, docs/dialogs.md): the engine decodes and checks it, so the adapter
needs no CallbackData factories of its own."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from dialogs.types import MAX_PAYLOAD_BYTES, Button

MAX_LABEL_CHARS = 64  # longer labels are cut by Telegram clients anyway


class PayloadTooLong(ValueError):
    pass


def callback_data(payload: str) -> str:
    """Telegram's callback_data is 1-64 bytes; a longer one makes the whole send fail."""
    size = len(payload.encode())
    if not 1 <= size <= MAX_PAYLOAD_BYTES:
        raise PayloadTooLong(f"callback_data must be 1-{MAX_PAYLOAD_BYTES} bytes, got {size}")
    return payload


def inline_keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    buttons = [
        [
            InlineKeyboardButton(
                text=b.label[:MAX_LABEL_CHARS], callback_data=callback_data(b.payload)
            )
            for b in row
        ]
        for row in rows
        if row
    ]
    return InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None


def url_keyboard(label: str, url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=label[:MAX_LABEL_CHARS], url=url)]]
    )


def contact_keyboard(label: str) -> ReplyKeyboardMarkup:
    """The reply keyboard that shares the user's own contact (linking by phone)."""
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=label[:MAX_LABEL_CHARS], request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
