"""Linking the chat's Telegram account to a customer (docs/architecture.md, "Identity across
channels"; docs/isp-rules.md, flow 1). Included in the Dispatcher before the general
handlers: whatever these handlers do not take (`SkipHandler`) goes on to the engine.

- `/start <token>`: a one-time token issued by `POST /me/telegram/link` links at once.
- `/start` from an unlinked user: how to link, with a "share my number" reply keyboard.
- A shared contact: only the sender's own (contact.user_id equals the sender - anyone can
  forward someone else's contact card). A phone on file makes us ask for the contract number;
  the phone waits in Redis for 10 minutes, keyed by the Telegram user id. Wrong numbers are
  limited to 5 an hour per Telegram user, so contract numbers cannot be walked.
- `/unlink`: asks for confirmation with inline buttons, then unlinks this Telegram account.

Never a password in a link: the only secret that travels is the single-use token."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from backend.customers import linking
from backend.customers import repository as customers
from backend.db import unit_of_work
from backend.errors import RateLimited
from backend.i18n import t
from backend.logging import get_logger
from backend.models import Customer
from backend.state import Resources
from backend.validation import normalize_phone
from bot.handlers import PRIVATE, pick_locale
from bot.render import send_outbound
from dialogs import access
from dialogs.flows.settings import LINKED_PAYLOAD
from dialogs.types import Inbound

if TYPE_CHECKING:
    from dialogs.engine import Engine

log = get_logger("bot.linking")

PENDING_KEY = "tg:linkstate:{}"  # Telegram user id -> the shared phone awaiting a contract no.
PENDING_TTL = 600
CONTRACT_ATTEMPTS = 5
CONTRACT_WINDOW_S = 3600
_ATTEMPTS_BUCKET = "tg-link-contract"


class UnlinkCallback(CallbackData, prefix="tglink"):
    confirm: bool


def share_contact_keyboard(locale: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=t("telegram-link-share-button", locale), request_contact=True)]
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


async def _linked(
    message: Message,
    bot: Bot,
    engine: Engine,
    resources: Resources,
    update_id: int,
    customer: Customer,
) -> None:
    """Confirm in the customer's language, then the engine's main menu for the new customer,
    then its question «Получать уведомления о балансе?» (docs/isp-rules.md, flow 1; the
    settings flow asks it and takes the answer). Each is an engine turn of its own, with an
    id derived from the update's, so a redelivered update gets the stored replies back."""
    user = message.from_user
    locale = pick_locale(
        customer.locale,
        user.language_code if user is not None else None,
        resources.settings.default_locale,
    )
    await message.answer(
        t("telegram-linked", locale, contract=customer.contract_number),
        reply_markup=ReplyKeyboardRemove(),
    )
    inbound = Inbound(
        channel="telegram",
        chat_id=str(message.chat.id),
        external_id=str(update_id),
        customer_id=customer.id,
        locale=locale,
        text="/start",
    )
    replies = await engine.handle(inbound)
    await send_outbound(bot, message.chat.id, replies, resources=resources, locale=locale)
    question = dataclasses.replace(
        inbound, external_id=f"{update_id}:ask-billing", text=None, payload=LINKED_PAYLOAD
    )
    replies = await engine.handle(question)
    await send_outbound(bot, message.chat.id, replies, resources=resources, locale=locale)


async def on_start_token(
    message: Message,
    command: CommandObject,
    bot: Bot,
    engine: Engine,
    resources: Resources,
    event_update: Update,
    locale: str,
) -> None:
    user = message.from_user
    if user is None:
        return
    customer_id = await linking.consume_link_token(resources.redis, command.args or "")
    customer: Customer | None = None
    if customer_id is not None:
        async with unit_of_work(resources.sessionmaker) as session:
            customer = await customers.customer_by_id(session, customer_id)
            if customer is not None:
                await linking.link_telegram(
                    session, customer.id, user.id, actor=None, conversations=access
                )
    if customer is None:
        await message.answer(
            t("telegram-link-invalid", locale), reply_markup=share_contact_keyboard(locale)
        )
        return
    log.info("telegram linked by deep link", customer_id=customer.id)
    await _linked(message, bot, engine, resources, event_update.update_id, customer)


async def on_start(message: Message, customer_id: int | None, locale: str) -> None:
    if customer_id is not None:
        raise SkipHandler  # linked: the engine shows the menu
    await message.answer(
        t("telegram-link-welcome", locale), reply_markup=share_contact_keyboard(locale)
    )


async def on_contact(message: Message, resources: Resources, locale: str) -> None:
    contact = message.contact
    user = message.from_user
    assert contact is not None  # the filter guarantees it
    if user is None or contact.user_id != user.id:
        await message.answer(
            t("telegram-link-foreign-contact", locale), reply_markup=share_contact_keyboard(locale)
        )
        return
    try:
        phone = normalize_phone(contact.phone_number)
    except ValueError:
        phone = None
    found: list[int] = []
    if phone is not None:
        async with unit_of_work(resources.sessionmaker) as session:
            found = await linking.customers_with_phone(session, phone)
    if not found or phone is None:
        await message.answer(
            t("telegram-link-phone-unknown", locale), reply_markup=ReplyKeyboardRemove()
        )
        return
    await resources.redis.set(PENDING_KEY.format(user.id), phone, ex=PENDING_TTL)
    await message.answer(
        t("telegram-link-ask-contract", locale), reply_markup=ReplyKeyboardRemove()
    )


async def on_contract_number(
    message: Message,
    bot: Bot,
    engine: Engine,
    resources: Resources,
    event_update: Update,
    locale: str,
) -> None:
    user = message.from_user
    text = (message.text or "").strip()
    if user is None or not text or text.startswith("/"):
        raise SkipHandler  # commands keep working while we wait
    key = PENDING_KEY.format(user.id)
    phone = await resources.redis.get(key)
    if phone is None:
        raise SkipHandler  # not waiting for a contract number: the engine's turn
    subject = str(user.id)
    try:
        # counted before the check (backend/ratelimit.py); a right number hands it back
        await resources.limiter.hit(_ATTEMPTS_BUCKET, subject, CONTRACT_ATTEMPTS, CONTRACT_WINDOW_S)
    except RateLimited:
        await resources.redis.delete(key)
        await message.answer(t("telegram-link-too-many", locale))
        return
    async with unit_of_work(resources.sessionmaker) as session:
        customer = await linking.find_by_phone_and_contract(session, phone, text)
        if customer is not None:
            await linking.link_telegram(
                session, customer.id, user.id, actor=None, conversations=access
            )
    if customer is None:
        await message.answer(t("telegram-link-wrong-contract", locale))
        return
    await resources.limiter.undo(_ATTEMPTS_BUCKET, subject)
    await resources.redis.delete(key)
    log.info("telegram linked by contact", customer_id=customer.id)
    await _linked(message, bot, engine, resources, event_update.update_id, customer)


async def on_unlink(
    message: Message, resources: Resources, customer_id: int | None, locale: str
) -> None:
    if customer_id is None:
        await message.answer(t("telegram-not-linked", locale))
        return
    async with unit_of_work(resources.sessionmaker) as session:
        customer = await customers.customer_by_id(session, customer_id)
    contract = customer.contract_number if customer is not None else ""
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=t("telegram-unlink-yes", locale),
                    callback_data=UnlinkCallback(confirm=True).pack(),
                ),
                InlineKeyboardButton(
                    text=t("telegram-unlink-no", locale),
                    callback_data=UnlinkCallback(confirm=False).pack(),
                ),
            ]
        ]
    )
    await message.answer(
        t("telegram-unlink-confirm", locale, contract=contract), reply_markup=markup
    )


async def on_unlink_answer(
    callback: CallbackQuery,
    callback_data: UnlinkCallback,
    bot: Bot,
    resources: Resources,
    customer_id: int | None,
    locale: str,
) -> None:
    await callback.answer()
    if not callback_data.confirm:
        text = t("telegram-unlink-cancelled", locale)
    elif customer_id is None:
        text = t("telegram-not-linked", locale)
    else:
        async with unit_of_work(resources.sessionmaker) as session:
            await linking.unlink_telegram(
                session,
                customer_id,
                actor=None,
                telegram_user_id=callback.from_user.id,
                conversations=access,
            )
        log.info("telegram unlinked", customer_id=customer_id)
        text = t("telegram-unlinked", locale)
    message = callback.message
    if isinstance(message, Message):
        await message.edit_text(text, reply_markup=None)
    else:
        await bot.send_message(callback.from_user.id, text)


def get_router() -> Router:
    router = Router(name="telegram-linking")
    router.message.filter(PRIVATE)
    router.message.register(on_start_token, CommandStart(deep_link=True))
    router.message.register(on_start, CommandStart())
    router.message.register(on_unlink, Command("unlink"))
    router.message.register(on_contact, F.contact)
    router.message.register(on_contract_number, F.text)
    router.callback_query.register(on_unlink_answer, UnlinkCallback.filter())
    return router
