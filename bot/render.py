"""Outbound items -> Telegram: texts with inline keyboards (edited in place for menus),
documents uploaded as files, Telegram invoices or payment links, handover notices."""

from __future__ import annotations

from collections.abc import Iterable

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, LabeledPrice

from backend.db import unit_of_work
from backend.documents import repository as documents
from backend.documents.errors import DocumentCorrupted
from backend.documents.storage import DocumentStorage
from backend.errors import error_key
from backend.i18n import t
from backend.logging import get_logger
from backend.state import Resources
from bot.keyboards import inline_keyboard, url_keyboard
from dialogs.types import DocumentOut, HandoverNotice, Outbound, PaymentRequest, Text

log = get_logger("bot.render")

MAX_MESSAGE_CHARS = 4096  # Telegram's limit for a message text
MAX_CAPTION_CHARS = 1024


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Chunks of at most `limit` characters, cut at line ends; a single longer line is cut
    hard."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            chunks.append(current)
            current = ""
        current += line
    if current or not chunks:
        chunks.append(current)
    # a trailing newline at a cut is invisible in Telegram; an all-whitespace chunk is refused
    cleaned = [c.rstrip("\n") for c in chunks]
    return [c for c in cleaned if c.strip()] or [text[:limit]]


async def _send_text(
    bot: Bot,
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None,
    edit_message_id: int | None,
) -> None:
    chunks = split_text(text)
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        reply_markup = markup if last else None
        if index == 0 and edit_message_id is not None and len(chunks) == 1:
            try:
                await bot.edit_message_text(
                    text=chunk,
                    chat_id=chat_id,
                    message_id=edit_message_id,
                    reply_markup=reply_markup,
                )
                continue
            except TelegramBadRequest as exc:
                if "not modified" in exc.message:
                    continue  # the same menu pressed twice: nothing to change
                # too old, deleted, or not a text message: send a new one instead
                log.info("edit in place refused", chat_id=chat_id, reason=exc.message)
        await bot.send_message(chat_id=chat_id, text=chunk, reply_markup=reply_markup)


async def _send_document(
    bot: Bot, resources: Resources, chat_id: int, item: DocumentOut, locale: str | None
) -> None:
    async with unit_of_work(resources.sessionmaker) as session:
        document = await documents.document_by_id(session, item.document_id)
    if document is None:
        log.error("outbound document missing", document_id=item.document_id)
        await bot.send_message(chat_id=chat_id, text=t(error_key(DocumentCorrupted.code), locale))
        return
    try:
        data = await DocumentStorage(resources.settings.documents_dir).open(document)
    except DocumentCorrupted:
        await bot.send_message(chat_id=chat_id, text=t(error_key(DocumentCorrupted.code), locale))
        return
    caption = item.caption[:MAX_CAPTION_CHARS] if item.caption else None
    await bot.send_document(
        chat_id=chat_id,
        document=BufferedInputFile(data, filename=item.filename),
        caption=caption,
    )


async def _send_payment(
    bot: Bot, resources: Resources, chat_id: int, item: PaymentRequest, locale: str | None
) -> None:
    token = resources.settings.telegram_payments_provider_token
    invoice = item.telegram
    if invoice is not None and token is not None:
        if item.text:
            await _send_text(bot, chat_id, item.text, None, None)
        await bot.send_invoice(
            chat_id=chat_id,
            title=str(invoice["title"]),
            description=str(invoice["description"]),
            payload=str(invoice["payload"]),
            currency=str(invoice["currency"]),
            prices=[
                LabeledPrice(label=str(p["label"]), amount=int(p["amount"]))
                for p in invoice["prices"]
            ],
            provider_token=token.get_secret_value(),
        )
        return
    text = item.text or t("payments-checkout-title", locale)
    if item.confirmation_url:
        markup = url_keyboard(t("payments-checkout-pay", locale), item.confirmation_url)
        await _send_text(bot, chat_id, text, markup, None)
    else:
        # an invoice made for Telegram while the provider token has gone since: nothing to pay
        # with here, say so rather than stay silent
        log.error("payment request without a way to pay", payment=item.payment_public_id)
        await _send_text(bot, chat_id, t("dialogs-topup-failed", locale), None, None)


async def send_outbound(
    bot: Bot,
    chat_id: int,
    items: Iterable[Outbound],
    *,
    resources: Resources,
    locale: str | None = None,
    edit_message_id: int | None = None,
) -> None:
    """Send the engine's replies in order. `edit_message_id` (a pressed menu) is replaced in
    place by the first item when that is a text; everything else is sent as new messages."""
    for item in items:
        if isinstance(item, Text):
            await _send_text(
                bot, chat_id, item.text, inline_keyboard(item.buttons), edit_message_id
            )
        elif isinstance(item, DocumentOut):
            await _send_document(bot, resources, chat_id, item, locale)
        elif isinstance(item, PaymentRequest):
            await _send_payment(bot, resources, chat_id, item, locale)
        elif isinstance(item, HandoverNotice):
            await _send_text(bot, chat_id, item.text, None, None)
        edit_message_id = None  # only the first item may replace the pressed message
