"""Telegram as a delivery channel: customers' notices, with buttons that start the bot's own
flows, and agents' replies in a Telegram conversation (`conversation.agent_reply`: the stored
transcript item, bot/delivery.py). The Bot comes from bot/factory, so TELEGRAM_API_BASE applies
and every message shares the bot's pacing with the bot's own replies (bot/pacing.py). The
address is the chat id: in a private chat, the user's id (the ChannelIdentity's external_id).

Outcomes, as notifications/channels.py defines them:
- 403 (the user blocked the bot or deleted the account): the identity is marked unreachable,
  UnreachableError; 400 "chat not found": UnreachableError (the identity is left alone: no
  Telegram update would ever mark it reachable again);
- 429: TemporaryDeliveryError with Telegram's retry_after (the middleware has already paused
  every sender; the Bot does not retry in place, so the worker's slot is not held);
- network errors, timeouts, 5xx, a refused token: TemporaryDeliveryError;
- any other 400, a file too large, a transcript item gone or unreadable:
  PermanentDeliveryError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiohttp import ClientError
from sqlalchemy.exc import DBAPIError

from backend.config import Settings
from backend.db import unit_of_work
from backend.i18n import t
from backend.logging import get_logger
from backend.state import Resources
from bot import lookups
from bot.delivery import ReplyUnavailable, send_stored_reply
from bot.factory import create_bot
from bot.handlers import NOTICE_MARK
from bot.pacing import Pacer
from bot.render import send_outbound
from dialogs.flows.promised import PromisedPaymentFlow
from dialogs.flows.tickets import TICKET_STATUS
from dialogs.flows.topup import TopUpFlow
from dialogs.handover import AGENT_REPLY
from dialogs.types import Button, Text, payload
from notifications.channels import (
    DeliveryError,
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
)

log = get_logger("notifications.telegram")

CHANNEL = "telegram"
MAX_PAUSE_WAIT = 1.0  # seconds of a flood-control pause a send sits out; longer: rescheduled

# Notices that ask for money get "Pay now": the bot's top-up flow, which offers the debt, a
# month and other amounts from the balance at the time of the press (a stale button cannot
# pay a stale amount).
PAY_KINDS = frozenset(
    {
        "billing.low_balance",
        "subscription.blocked",
        "invoice.issued",
        "promised_payment.expiring",
    }
)
PROMISED_KINDS = frozenset({"subscription.blocked"})  # and only where PP_ENABLED
TICKET_KINDS = frozenset({"ticket.updated"})
# An invoice in these states asks for nothing (the monthly run pays from a prepaid balance).
SETTLED_INVOICE = frozenset({"paid", "cancelled"})


def buttons_for(
    kind: str, data: Mapping[str, Any], locale: str, settings: Settings
) -> tuple[tuple[Button, ...], ...]:
    """The inline buttons under a notice: callback data the bot's flows already answer
    (`v1:<flow>:start:<arg>`, docs/dialogs.md), so a press starts the flow as the menu's
    button does."""

    def button(key: str, flow: str, arg: int | str = "") -> Button:
        # NOTICE_MARK: the bot answers a press under a notice with a new message instead of
        # editing the notice away (bot/handlers.on_callback)
        return Button(t(key, locale), NOTICE_MARK + payload(flow, "start", arg))

    row: list[Button] = []
    settled = kind == "invoice.issued" and data.get("status") in SETTLED_INVOICE
    if kind in PAY_KINDS and not settled:
        row.append(button("telegram-notice-pay", TopUpFlow.name))
    if kind in PROMISED_KINDS and settings.pp_enabled:
        row.append(button("telegram-notice-promised", PromisedPaymentFlow.name))
    ticket_id = data.get("ticket_id")
    if kind in TICKET_KINDS and type(ticket_id) is int and ticket_id > 0:
        # the status flow shows the ticket at once when its start carries the number
        row.append(button("telegram-notice-ticket", TICKET_STATUS, ticket_id))
    return (tuple(row),) if row else ()


def _chat_id(to: str) -> int:
    try:
        return int(to)
    except ValueError:
        raise PermanentDeliveryError("invalid Telegram chat id") from None


def _message_id(data: Mapping[str, Any]) -> int:
    value = data.get("message_id")
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise PermanentDeliveryError("agent reply payload needs a message_id")


class TelegramChannel:
    """Sends through one Bot for the process's lifetime (`close()` at the end). `pacer` is
    the Bot's (bot/pacing.py): while a 429 pauses the bot for longer than MAX_PAUSE_WAIT the
    message is handed back at once with the pause as its retry_after, instead of holding a
    worker slot past its send timeout."""

    def __init__(
        self,
        resources: Resources,
        bot: Bot,
        settings: Settings | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.resources = resources
        self.bot = bot
        self.settings = settings or resources.settings
        self.pacer = pacer

    async def close(self) -> None:
        await self.bot.session.close()

    async def send(self, message: Rendered) -> None:
        chat_id = _chat_id(message.to)
        paused = await self.pacer.paused_for() if self.pacer is not None else 0.0
        if paused > MAX_PAUSE_WAIT:
            raise TemporaryDeliveryError("telegram flood control: paused", retry_after=paused)
        try:
            if message.kind == AGENT_REPLY:
                await self._agent_reply(chat_id, message)
            else:
                await self._notice(chat_id, message)
        except DeliveryError:
            raise
        except TelegramForbiddenError:
            await self._blocked(chat_id)
            log.info("telegram: bot blocked, identity marked unreachable",
                     outbox_id=message.outbox_id, kind=message.kind, chat_id=chat_id)  # fmt: skip
            raise UnreachableError(lookups.BLOCKED_BY_USER) from None
        except TelegramRetryAfter as exc:
            raise TemporaryDeliveryError(
                f"telegram flood control: retry after {exc.retry_after}s",
                retry_after=float(exc.retry_after),
            ) from None
        except Exception as exc:
            error = _translate(exc)
            if error is None:
                raise  # a bug: the worker logs it with its traceback and retries
            raise error from None

    async def _notice(self, chat_id: int, message: Rendered) -> None:
        if not message.text.strip():
            raise PermanentDeliveryError("empty notice text")
        buttons = buttons_for(message.kind, message.payload, message.locale, self.settings)
        item = Text(message.text, buttons=buttons)
        await send_outbound(
            self.bot, chat_id, [item], resources=self.resources, locale=message.locale
        )

    async def _agent_reply(self, chat_id: int, message: Rendered) -> None:
        message_id = _message_id(message.payload)
        try:
            await send_stored_reply(self.resources, self.bot, chat_id, message_id)
        except ReplyUnavailable as exc:
            raise PermanentDeliveryError(str(exc)) from None

    async def _blocked(self, chat_id: int) -> None:
        # private chats only: the chat id is the user's id
        async with unit_of_work(self.resources.sessionmaker) as session:
            await lookups.set_reachable(
                session, chat_id, reachable=False, reason=lookups.BLOCKED_BY_USER
            )


def _translate(exc: Exception) -> DeliveryError | None:
    """What a failed send means for the row. Telegram's descriptions name the problem, never
    the text sent, so they may go into last_error."""
    if isinstance(exc, TelegramBadRequest):
        if "chat not found" in exc.message.lower():
            return UnreachableError("telegram: chat not found")
        return PermanentDeliveryError(f"telegram refused the message: {exc.message}")
    if isinstance(exc, TelegramEntityTooLarge):
        return PermanentDeliveryError("telegram: the file is too large")
    if isinstance(exc, TelegramMigrateToChat):
        return UnreachableError("telegram: the chat became a supergroup")
    if isinstance(exc, TelegramAPIError):  # 5xx, network, 401, 404, 409
        return TemporaryDeliveryError(f"telegram: {type(exc).__name__}: {exc.message}")
    if isinstance(exc, ClientDecodeError | ClientError | TimeoutError | OSError | DBAPIError):
        return TemporaryDeliveryError(f"telegram unavailable: {type(exc).__name__}")
    return None


def telegram_channel(settings: Settings, resources: Resources) -> TelegramChannel | None:
    """The channel of settings' bot, None without TELEGRAM_BOT_TOKEN. Its Bot raises a 429 at
    once (max_retries=0): the worker reschedules the row by the retry_after."""
    if settings.telegram_bot_token is None:
        return None
    pacer = Pacer.from_settings(settings, resources.redis)
    bot = create_bot(settings, pacer=pacer, max_retries=0)
    return TelegramChannel(resources, bot, settings, pacer)
