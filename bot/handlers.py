"""Telegram updates -> `dialogs.Inbound` -> `Engine.handle` -> rendered replies.

Routers are built by `get_router()` on every call (a Router attaches to one Dispatcher only).
`IdentityMiddleware` only injects: `customer_id` (the linked customer or None) and `locale`
(the customer's, else Telegram's language_code, else the default, ru).

Decisions:
- Group and channel chats are ignored silently. The bot serves one customer's account, which
  must not be shown to a group; an answer to every message in a group the bot was added to
  would be spam, and a private chat is one tap away.
- Edited messages are ignored silently: the original was answered already, and treating the
  edit as new input could repeat an action (a second top-up) or answer a typo fix.
- Photos, voice, stickers and other media reach the engine as attachments without text: it
  answers "please write in text", or forwards them to the agent who holds the chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    Message,
    PreCheckoutQuery,
    TelegramObject,
    Update,
    User,
)

from backend.audit import service as audit
from backend.db import unit_of_work
from backend.errors import AppError, error_key
from backend.i18n import SUPPORTED_LOCALES, major, t
from backend.logging import get_logger
from backend.models import PaymentStatus
from backend.payments import service as payments
from backend.state import Resources
from bot import lookups
from bot.keyboards import url_keyboard
from bot.render import send_outbound
from dialogs.types import Attachment, Contact, Inbound

if TYPE_CHECKING:
    from dialogs.engine import Engine

log = get_logger("bot.handlers")

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
PRIVATE = F.chat.type == ChatType.PRIVATE


def pick_locale(customer_locale: str | None, language_code: str | None, default: str) -> str:
    if customer_locale in SUPPORTED_LOCALES:
        return str(customer_locale)
    code = (language_code or "").split("-")[0].lower()
    if code in SUPPORTED_LOCALES:
        return code
    return default


class IdentityMiddleware(BaseMiddleware):
    """Injects `customer_id` and `locale` for the update's user: as the inbox read them when
    it claimed the update (`lookups.Prefetched`), else with one indexed query."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        customer_id: int | None = None
        customer_locale: str | None = None
        if user is not None and not user.is_bot:
            prefetched = lookups.Prefetched.get(data)
            if prefetched is not None:  # read with the inbox row
                found = prefetched.identity
            else:
                async with unit_of_work(self.resources.sessionmaker) as session:
                    found = await lookups.identity_of(session, user.id)
            if found is not None:
                customer_id, customer_locale = found.customer_id, found.locale
        data["customer_id"] = customer_id
        data["locale"] = pick_locale(
            customer_locale,
            user.language_code if user is not None else None,
            self.resources.settings.default_locale,
        )
        return await handler(event, data)


class UnreachableMiddleware(BaseMiddleware):
    """A reply refused with 403 (the user blocked the bot, or deleted the account) marks the
    Telegram identity unreachable and ends the update: sending again cannot help, and the turn
    itself (and its replies) is already stored. Telegram sends my_chat_member `member` when the
    user unblocks the bot, which marks it reachable again."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except TelegramForbiddenError as exc:
            user: User | None = data.get("event_from_user")
            if user is None:
                raise
            async with unit_of_work(self.resources.sessionmaker) as session:
                await lookups.set_reachable(
                    session, user.id, reachable=False, reason=lookups.BLOCKED_BY_USER
                )
            log.info("telegram reply refused: marked unreachable", user_id=user.id,
                     reason=exc.message)  # fmt: skip
            return None


def _attachments(message: Message) -> tuple[Attachment, ...]:
    if message.photo:
        return (Attachment("photo", message.photo[-1].file_id),)
    if message.document:
        return (Attachment("document", message.document.file_id, message.document.file_name),)
    for kind in ("voice", "sticker", "video", "video_note", "audio", "animation"):
        media = getattr(message, kind, None)
        if media is not None:
            return (Attachment(kind, media.file_id, getattr(media, "file_name", None)),)
    if message.text is None and message.contact is None:
        # location, poll, dice ...: nothing the engine can read; it answers politely
        kind = getattr(message.content_type, "value", message.content_type)  # an Enum
        return (Attachment(str(kind), ""),)
    return ()


def inbound_from_message(
    message: Message, update_id: int, customer_id: int | None, locale: str
) -> Inbound:
    contact = None
    if message.contact is not None:
        contact = Contact(
            phone=message.contact.phone_number,
            user_id=str(message.contact.user_id) if message.contact.user_id else None,
            first_name=message.contact.first_name,
        )
    return Inbound(
        channel="telegram",
        chat_id=str(message.chat.id),
        external_id=str(update_id),
        customer_id=customer_id,
        locale=locale,
        text=message.text if message.text is not None else message.caption,
        contact=contact,
        attachments=_attachments(message),
    )


async def on_message(
    message: Message,
    bot: Bot,
    engine: Engine,
    resources: Resources,
    event_update: Update,
    customer_id: int | None,
    locale: str,
) -> None:
    inbound = inbound_from_message(message, event_update.update_id, customer_id, locale)
    replies = await engine.handle(inbound)
    await send_outbound(bot, message.chat.id, replies, resources=resources, locale=locale)


# The prefix of the callback data of a notice's buttons (notifications/telegram.py).
NOTICE_MARK = "n|"


async def on_callback(
    callback: CallbackQuery,
    bot: Bot,
    engine: Engine,
    resources: Resources,
    event_update: Update,
    customer_id: int | None,
    locale: str,
) -> None:
    # Answer first: the client shows a spinner until then, and an answer must come even when
    # the turn fails or the press is ignored.
    await callback.answer()
    message = callback.message
    if message is not None and message.chat.type != ChatType.PRIVATE:
        return
    chat_id = message.chat.id if message is not None else callback.from_user.id
    data = callback.data or ""
    # edit the pressed menu in place when it is a text message we can still edit; a button
    # under a notice (notifications/telegram.py) answers below it, the notice stays readable
    under_notice = data.startswith(NOTICE_MARK)
    data = data.removeprefix(NOTICE_MARK)
    editable = isinstance(message, Message) and message.text and not under_notice
    edit_id = message.message_id if editable and message is not None else None
    inbound = Inbound(
        channel="telegram",
        chat_id=str(chat_id),
        external_id=str(event_update.update_id),
        customer_id=customer_id,
        locale=locale,
        payload=data,
    )
    replies = await engine.handle(inbound)
    await send_outbound(
        bot, chat_id, replies, resources=resources, locale=locale, edit_message_id=edit_id
    )


async def on_pre_checkout(query: PreCheckoutQuery, resources: Resources, locale: str) -> None:
    """Telegram waits at most 10 seconds: one read, no engine turn."""
    try:
        async with unit_of_work(resources.sessionmaker) as session:
            ok, reason = await payments.validate_pre_checkout(
                session, query.invoice_payload, query.currency, query.total_amount
            )
    except Exception:
        log.exception("pre-checkout check failed", query_id=query.id)
        ok, reason = False, None
    if ok:
        await query.answer(ok=True)
        return
    key = error_key(reason) if reason else "dialogs-error"
    await query.answer(ok=False, error_message=t(key, locale))


async def on_successful_payment(
    message: Message, resources: Resources, locale: str, event_update: Update
) -> None:
    """Money already taken: credited once per charge. A failure of the database is raised, so
    the inbox retries the update (and alerts when it keeps failing); a charge that matches no
    payment, or not its amount, is left for staff in the audit log and the customer is told
    it will be checked."""
    paid = message.successful_payment
    assert paid is not None  # the filter guarantees it
    try:
        async with unit_of_work(resources.sessionmaker) as session:
            outcome = await payments.credit_successful_payment(
                session,
                resources.settings,
                paid.invoice_payload,
                paid.telegram_payment_charge_id,
                paid.provider_payment_charge_id,
                paid.total_amount,
                paid.currency,
                chat_id=message.chat.id,
            )
    except AppError as exc:
        # money was taken for a payload we cannot match: staff see it in the audit log
        await _unmatched_payment(resources, message, event_update.update_id, exc.code)
        await message.answer(t("telegram-payment-under-review", locale))
        return
    if not outcome.credited:
        if outcome.payment.status is PaymentStatus.failed:
            # the amount or currency did not match: payments.credit() audited it
            log.error(
                "successful_payment not credited",
                code="payment_amount_mismatch",
                payment_id=outcome.payment.id,
                chat_id=message.chat.id,
            )
            await message.answer(t("telegram-payment-under-review", locale))
        return  # else a redelivered update: the customer was told already
    if outcome.balance is None:
        await message.answer(t("payments-status-succeeded", locale))
        return
    key = "telegram-payment-credited-restored" if outcome.restored else "telegram-payment-credited"
    await message.answer(
        t(
            key,
            locale,
            amount=major(outcome.payment.amount),
            balance=major(outcome.balance),
        )
    )


UNMATCHED_PAYMENT = "payment.telegram_unmatched"  # the audit action staff look for


async def _unmatched_payment(
    resources: Resources, message: Message, update_id: int, code: str
) -> None:
    paid = message.successful_payment
    assert paid is not None
    log.error("successful_payment not credited", code=code, chat_id=message.chat.id,
              update_id=update_id)  # fmt: skip
    async with unit_of_work(resources.sessionmaker) as session:
        await audit.record(
            session,
            UNMATCHED_PAYMENT,
            audit.SYSTEM,
            "telegram_update",
            update_id,
            reason=code,
            amount=paid.total_amount,
            currency=paid.currency,
            invoice_payload=paid.invoice_payload[:128],
            telegram_payment_charge_id=paid.telegram_payment_charge_id[:128],
            provider_payment_charge_id=paid.provider_payment_charge_id[:128],
            chat_id=message.chat.id,
        )


async def on_my_chat_member(event: ChatMemberUpdated, resources: Resources) -> None:
    """Blocked (kicked) -> the customer's Telegram identity is unreachable; unblocked -> back."""
    status = event.new_chat_member.status
    if status not in ("kicked", "member"):
        return
    async with unit_of_work(resources.sessionmaker) as session:
        await lookups.set_reachable(
            session,
            event.from_user.id,
            reachable=status == "member",
            reason=lookups.BLOCKED_BY_USER,
        )


def _addressed_to(message: Message, me: User) -> bool:
    """A command (bare or /cmd@this_bot), a mention of the bot, or a reply to the bot."""
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == me.id:
        return True
    text = message.text or message.caption or ""
    username = (me.username or "").lower()
    for entity in message.entities or message.caption_entities or ():
        part = text[entity.offset : entity.offset + entity.length].lower()
        if entity.type == "bot_command" and entity.offset == 0:
            _, _, target = part.partition("@")
            if not target or target == username:
                return True
        if entity.type == "mention" and username and part == f"@{username}":
            return True
    return False


async def on_group_message(message: Message, bot: Bot, resources: Resources, locale: str) -> None:
    """Group chats (TELEGRAM_GROUP_CHATS=true): what is addressed to the bot gets a pointer to
    a private chat, where the customer's account can be shown to the customer alone."""
    if not resources.settings.telegram_group_chats:
        return
    me = await bot.me()
    if not _addressed_to(message, me):
        return
    markup = None
    if me.username:
        markup = url_keyboard(t("telegram-group-open-chat", locale), f"https://t.me/{me.username}")
    await message.reply(t("telegram-group-private", locale), reply_markup=markup)


async def on_edited_message(message: Message) -> None:
    """Deliberately nothing (see the module docstring)."""


def get_group_router() -> Router:
    router = Router(name="telegram-groups")
    router.message.filter(F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}))
    router.message.register(on_group_message)
    return router


def get_router() -> Router:
    router = Router(name="telegram")
    router.message.filter(PRIVATE)
    router.edited_message.filter(PRIVATE)
    router.my_chat_member.filter(PRIVATE)
    # successful_payment first: the generic message handler would take it otherwise
    router.message.register(on_successful_payment, F.successful_payment)
    router.message.register(on_message)
    router.callback_query.register(on_callback)
    router.pre_checkout_query.register(on_pre_checkout)
    router.my_chat_member.register(on_my_chat_member)
    router.edited_message.register(on_edited_message)
    return router
