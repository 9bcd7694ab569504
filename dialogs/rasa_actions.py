"""The business actions of the engine exposed to a Rasa assistant as rasa-sdk custom actions.

Served in-process by the core at `/rasa/webhook` (backend/webchat/rasa_endpoints.py) or
standalone with `python -m rasa_sdk --actions dialogs.rasa_actions` (docs/rasa.md). rasa-sdk is
an optional extra (`pip install .[rasa]`): only these two entry points import this module.

Identity comes from the conversation table, never from slots (a slot is whatever the user or
the NLU put there): the tracker's `sender_id` is `<channel>:<chat_id>` (`telegram:12345`), the
same key as `conversations(channel, chat_id)`, and the customer is the one linked to that
conversation by the channel adapter. Without a linked customer an action answers with the
"link your account" text and changes nothing.

Each action runs in its own unit of work on a `Resources` built once per process (lazily from
the environment's Settings, or the app's own when the core serves the webhook). Refusals of the
services (`AppError`) are rendered from the shared `error-<code>` catalog keys; anything else is
logged and answered with `rasa-error`, so Rasa always gets a reply, never a 500."""

from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from rasa_sdk import Action, Tracker  # type: ignore[import-untyped]
from rasa_sdk.events import SlotSet  # type: ignore[import-untyped]
from rasa_sdk.executor import CollectingDispatcher  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import Actor
from backend.billing import promised, tariff_change
from backend.billing import service as billing
from backend.billing.errors import PromisedPaymentRefused
from backend.clock import business_today, utcnow
from backend.config import Settings, get_settings
from backend.db import unit_of_work
from backend.documents import service as documents
from backend.documents.schemas import DocumentFilter
from backend.errors import AppError, error_key
from backend.i18n import catalog
from backend.i18n import major as i18n_major
from backend.models import (
    Channel,
    Conversation,
    ConversationState,
    DocumentKind,
    Role,
    TicketCategory,
)
from backend.payments import service as payments
from backend.payments.schemas import PaymentIn
from backend.state import Resources
from backend.support import service as support
from dialogs import handover, transcript
from dialogs.transcript import ConversationRow

log = logging.getLogger(__name__)

# Same actor as the engine's flows: the customer acting through a chat.
CUSTOMER = Actor(user_id=None, role=Role.customer)
# Button payloads: Rasa's "/intent{json}" syntax, so a tap sets the slot without NLU.
CONFIRM_PAYLOAD = '/affirm{"confirm": true}'
CANCEL_PAYLOAD = '/deny{"confirm": false}'
MAX_DESCRIPTION = 5000
MAX_CHAT_ID = 128  # conversations.chat_id
_TRUE = frozenset({"true", "yes", "1", "да", "y", "on"})
_AMOUNT = re.compile(r"^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$")
_DOCUMENT_WORDS = {
    "contract": DocumentKind.contract,
    "договор": DocumentKind.contract,
    "invoice": DocumentKind.invoice,
    "счёт": DocumentKind.invoice,
    "счет": DocumentKind.invoice,
    "act": DocumentKind.act,
    "акт": DocumentKind.act,
}


# --- the process-wide resources -------------------------------------------------------------


class _Holder:
    """One `Resources` per process: the app's when the core serves the webhook (`bind`), else
    built on first use from the environment (the standalone `python -m rasa_sdk` server)."""

    def __init__(self) -> None:
        self.resources: Resources | None = None
        self.owned = False
        self.lock = asyncio.Lock()

    def bind(self, resources: Resources) -> None:
        if self.resources is not resources:
            self.resources = resources
            self.owned = False

    async def get(self) -> Resources:
        if self.resources is None:
            async with self.lock:
                if self.resources is None:
                    self.resources = Resources.create(get_settings())
                    self.owned = True
        return self.resources

    async def close(self) -> None:
        if self.resources is not None and self.owned:
            await self.resources.close()
        self.resources = None
        self.owned = False


holder = _Holder()


# --- who is talking -------------------------------------------------------------------------


def parse_sender(sender_id: str | None) -> tuple[Channel, str] | None:
    """`telegram:12345` -> (Channel.telegram, "12345"); anything else -> None."""
    if not sender_id or ":" not in sender_id:
        return None
    channel, chat_id = sender_id.split(":", 1)
    if not 0 < len(chat_id) <= MAX_CHAT_ID or channel not in Channel.__members__:
        return None
    return Channel(channel), chat_id


async def conversation_of(
    session: AsyncSession, channel: Channel, chat_id: str
) -> ConversationRow | None:
    # TODO(lead): move into dialogs/transcript.py as `by_chat()` (the conversation repository).
    row = (
        await session.execute(
            select(*transcript._COLUMNS).where(
                Conversation.channel == channel, Conversation.chat_id == chat_id
            )
        )
    ).one_or_none()
    return None if row is None else transcript._row(row)


# --- what an action sees --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """One message for `dispatcher.utter_message`."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()
    custom: dict[str, Any] | None = None

    def send(self, dispatcher: CollectingDispatcher) -> None:
        kwargs: dict[str, Any] = {"text": self.text}
        if self.buttons:
            kwargs["buttons"] = [{"title": t, "payload": p} for t, p in self.buttons]
        if self.custom is not None:
            kwargs["json_message"] = self.custom
        dispatcher.utter_message(**kwargs)


@dataclass(slots=True)
class ActionContext:
    resources: Resources
    session: AsyncSession
    tracker: Tracker
    conversation: ConversationRow | None
    locale: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    @property
    def customer_id(self) -> int:
        assert self.conversation is not None
        assert self.conversation.customer_id is not None
        return self.conversation.customer_id

    @property
    def today(self) -> date:
        return business_today(self.settings)

    def t(self, key: str, /, **args: Any) -> str:
        return catalog().text(key, self.locale, **args)

    def slot(self, name: str) -> Any:
        return self.tracker.get_slot(name)

    def text_slot(self, name: str, limit: int = 200) -> str | None:
        value = self.slot(name)
        if value is None or isinstance(value, bool | dict | list):
            return None
        text = str(value).strip()
        return text[:limit] or None

    def confirmed(self) -> bool:
        value = self.slot("confirm")
        return value is True or (isinstance(value, str) and value.strip().lower() in _TRUE)

    def set_slot(self, name: str, value: Any) -> None:
        self.events.append(SlotSet(name, value))

    def confirm_buttons(self) -> tuple[tuple[str, str], ...]:
        return (
            (self.t("rasa-button-confirm"), CONFIRM_PAYLOAD),
            (self.t("rasa-button-cancel"), CANCEL_PAYLOAD),
        )

    major = staticmethod(i18n_major)

    def day(self, value: date) -> str:
        return format_skeleton("MMMMd", value, locale=self.locale)

    def moment(self, value: datetime) -> str:
        return _moment(value, self.settings, self.locale)


def _moment(value: datetime, settings: Settings, locale: str) -> str:
    """ "21 сентября, 14:00": babel has no month-day-time skeleton, so two parts."""
    local = value.astimezone(ZoneInfo(settings.billing_timezone))
    return f"{format_skeleton('MMMMd', local, locale=locale)}, {local:%H:%M}"


def error_text(locale: str, settings: Settings, error: AppError) -> str:
    return refusal_text(locale, settings, error.code, error.extra)


def refusal_text(locale: str, settings: Settings, code: str, extra: dict[str, Any]) -> str:
    """`error-<code>` with the refusal's next step (an amount to pay, a date), else rasa-error."""
    key = error_key(code)
    if not catalog().has(key, locale):
        return catalog().text("rasa-error", locale)
    args: dict[str, Any] = {
        "amount": Decimal(0),
        "date": "",
        "min": i18n_major(settings.topup_min),
        "max": i18n_major(settings.topup_max),
    }
    for name in ("amount", "amount_to_pay"):
        if isinstance(extra.get(name), int):
            args["amount"] = i18n_major(extra[name])
    for name in ("date", "available_from"):
        value = extra.get(name)
        if isinstance(value, datetime):
            args["date"] = _moment(value, settings, locale)
        elif isinstance(value, date):
            args["date"] = format_skeleton("MMMMd", value, locale=locale)
    return catalog().text(key, locale, **args)


# --- the actions ----------------------------------------------------------------------------


class BusinessAction(Action, ABC):  # type: ignore[misc]
    """A Rasa action over one business service call. Subclasses set `action_name` and
    implement `act()`; identity, the unit of work, locale and error rendering live here."""

    action_name: ClassVar[str]
    needs_customer: ClassVar[bool] = True

    def name(self) -> str:
        return self.action_name

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        res = await holder.get()
        default_locale = res.settings.default_locale
        ctx: ActionContext | None = None
        replies: list[Reply]
        try:
            async with unit_of_work(res.sessionmaker) as session:
                sender = parse_sender(tracker.sender_id)
                conv = None
                if sender is not None:
                    conv = await conversation_of(session, *sender)
                locale = catalog().locale_for((conv.locale if conv else None) or default_locale)
                ctx = ActionContext(res, session, tracker, conv, locale)
                if self.needs_customer and (conv is None or conv.customer_id is None):
                    replies = [Reply(link_account_text(ctx, sender))]
                else:
                    replies = await self.act(ctx)
        except AppError as error:
            # the unit of work rolled back: nothing of the refused change is kept, so no slot
            # events either
            replies = [
                Reply(error_text(ctx.locale if ctx else default_locale, res.settings, error))
            ]
            ctx = None
        except Exception:
            log.exception("rasa action %s failed", self.action_name)
            replies = [Reply(catalog().text("rasa-error", ctx.locale if ctx else default_locale))]
            ctx = None
        for reply in replies:
            reply.send(dispatcher)
        return list(ctx.events) if ctx else []

    @abstractmethod
    async def act(self, ctx: ActionContext) -> list[Reply]: ...


def link_account_text(ctx: ActionContext, sender: tuple[Channel, str] | None) -> str:
    """The channel's own linking instructions when the engine has them."""
    if sender is not None:
        key = f"dialogs-identify-{sender[0].value}"
        if catalog().has(key, ctx.locale):
            return ctx.t(key)
    return ctx.t("rasa-link-account")


class CheckBalance(BusinessAction):
    action_name = "action_check_balance"

    async def act(self, ctx: ActionContext) -> list[Reply]:
        balance = await billing.balance(ctx.session, ctx.customer_id, ctx.today)
        amount = ctx.major(balance.amount)
        if balance.days_left is None:
            text = ctx.t("dialogs-balance", amount=amount)
        elif balance.amount < 0:
            text = ctx.t("dialogs-balance-debt", amount=-amount)
        else:
            until = ctx.today + timedelta(days=balance.days_left)
            text = ctx.t(
                "dialogs-balance-days", amount=amount, days=balance.days_left, until=ctx.day(until)
            )
        ctx.set_slot("balance", float(amount))
        return [Reply(text)]


def amount_of(value: Any) -> int | None:
    """Minor units from a slot in major units: 500, 500.5, "500", "1 000", "500,50"."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return round(value * 100) if value > 0 else None
    if isinstance(value, str):
        match = _AMOUNT.match(value.replace("\u00a0", "").replace(" ", ""))
        if match:
            return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    return None


class TopUp(BusinessAction):
    action_name = "action_top_up"

    async def act(self, ctx: ActionContext) -> list[Reply]:
        settings = ctx.settings
        amount = amount_of(ctx.slot("amount"))
        if amount is None or not settings.topup_min <= amount <= settings.topup_max:
            ctx.set_slot("amount", None)
            text = ctx.t(
                "rasa-topup-ask-amount",
                min=ctx.major(settings.topup_min),
                max=ctx.major(settings.topup_max),
            )
            return [Reply(text)]
        payment = await payments.create_payment(
            ctx.session,
            settings,
            ctx.resources.limiter,
            customer_id=ctx.customer_id,
            data=PaymentIn(amount=amount),
            idempotency_key=None,
            actor=CUSTOMER,
        )
        ctx.set_slot("payment_id", payment.public_id)
        ctx.set_slot("amount", None)
        text = ctx.t("dialogs-topup-link", amount=ctx.major(payment.amount))
        url = payment.confirmation_url or payments.status_page_url(settings, payment.public_id)
        custom = {
            "kind": "payment",
            "payment_id": payment.public_id,
            "amount": payment.amount,
            "currency": payment.currency,
            "confirmation_url": url,
        }
        return [Reply(f"{text}\n{url}", custom=custom)]


class ChangeTariff(BusinessAction):
    action_name = "action_change_tariff"

    async def act(self, ctx: ActionContext) -> list[Reply]:
        tariffs = await billing.list_tariffs(ctx.session)
        names = ", ".join(t.name for t in tariffs)
        wanted = ctx.text_slot("tariff")
        if wanted is None:
            return [Reply(ctx.t("rasa-tariff-ask", tariffs=names))]
        key = wanted.casefold()
        target = next((t for t in tariffs if t.name.casefold() == key or str(t.id) == wanted), None)
        if target is None:
            ctx.set_slot("tariff", None)
            return [Reply(ctx.t("rasa-tariff-unknown", name=wanted, tariffs=names))]
        if not ctx.confirmed():
            quote = await tariff_change.quote(
                ctx.session, ctx.settings, ctx.customer_id, target.id, ctx.today
            )
            monthly = ctx.major(quote.new_monthly_price)
            if quote.effective == "now":
                text = ctx.t(
                    "rasa-tariff-quote-now",
                    name=target.name,
                    total=ctx.major(quote.total_now),
                    monthly=monthly,
                )
            else:
                text = ctx.t(
                    "rasa-tariff-quote-next",
                    name=target.name,
                    date=ctx.day(quote.effective_on),
                    monthly=monthly,
                )
            return [Reply(text, ctx.confirm_buttons())]
        result = await tariff_change.confirm(
            ctx.session, ctx.settings, ctx.customer_id, target.id, ctx.today, utcnow(), CUSTOMER
        )
        ctx.set_slot("confirm", None)
        ctx.set_slot("tariff", None)
        if result.status == "changed":
            return [Reply(ctx.t("rasa-tariff-changed", name=target.name))]
        when = result.scheduled_change_on or result.quote.effective_on
        return [Reply(ctx.t("rasa-tariff-scheduled", name=target.name, date=ctx.day(when)))]


class PromisedPayment(BusinessAction):
    action_name = "action_promised_payment"

    async def act(self, ctx: ActionContext) -> list[Reply]:
        if ctx.confirmed():
            taken = await promised.take(
                ctx.session, ctx.settings, ctx.customer_id, utcnow(), CUSTOMER
            )
            ctx.set_slot("confirm", None)
            pp = taken.promised_payment
            text = ctx.t(
                "rasa-pp-taken",
                amount=ctx.major(pp.amount),
                until=ctx.moment(pp.expires_at),
                balance=ctx.major(taken.balance),
            )
            return [Reply(text)]
        terms = await promised.terms(ctx.session, ctx.settings, ctx.customer_id, utcnow())
        if not terms.allowed:
            extra = {"amount_to_pay": terms.amount_to_pay, "available_from": terms.available_from}
            code = terms.reason or PromisedPaymentRefused.code
            return [Reply(refusal_text(ctx.locale, ctx.settings, code, extra))]
        assert terms.amount is not None
        assert terms.expires_at is not None
        text = ctx.t(
            "rasa-pp-terms",
            amount=ctx.major(terms.amount),
            days=terms.term_days or 0,
            fee=ctx.major(terms.fee or 0),
            until=ctx.moment(terms.expires_at),
        )
        return [Reply(text, ctx.confirm_buttons())]


class OpenTicket(BusinessAction):
    action_name = "action_open_ticket"

    async def act(self, ctx: ActionContext) -> list[Reply]:
        description = ctx.text_slot("description", MAX_DESCRIPTION)
        if description is None:
            return [Reply(ctx.t("rasa-ticket-ask-description"))]
        raw = ctx.text_slot("category") or ""
        category = (
            TicketCategory(raw) if raw in TicketCategory.__members__ else TicketCategory.other
        )
        first_line = description.splitlines()[0][:120]
        subject = ctx.t("rasa-ticket-subject", category=first_line)
        ticket = await support.create_ticket(
            ctx.session,
            customer_id=ctx.customer_id,
            subject=subject[:200],
            description=description,
            actor=CUSTOMER,
            category=category,
            details={"source": "rasa", "sender_id": ctx.tracker.sender_id},
        )
        ctx.set_slot("ticket_id", ticket.id)
        ctx.set_slot("description", None)
        return [Reply(ctx.t("rasa-ticket-created", id=ticket.id))]


def document_kind(value: str | None) -> DocumentKind | None:
    if value is None:
        return None
    return _DOCUMENT_WORDS.get(value.casefold())


class GetDocuments(BusinessAction):
    action_name = "action_get_documents"

    async def act(self, ctx: ActionContext) -> list[Reply]:
        kind = document_kind(ctx.text_slot("document_type"))
        if kind is None:
            return [Reply(ctx.t("rasa-documents-ask-type"))]
        period = ctx.text_slot("period", 32)
        found, _total = await documents.list_documents(
            ctx.session, ctx.customer_id, DocumentFilter(kind=[kind], period=period, limit=1)
        )
        if not found:
            return [Reply(ctx.t("rasa-documents-none"))]
        document = found[0]
        url = f"{ctx.settings.public_url.rstrip('/')}/api/v1/documents/{document.id}/download"
        text = ctx.t("rasa-documents-link", title=document.title, period=document.period, url=url)
        custom = {
            "kind": "document",
            "document_id": document.id,
            "filename": f"{document.title}.pdf",
            "url": url,
        }
        return [Reply(text, custom=custom)]


class Handover(BusinessAction):
    """The conversation goes to the agents' queue through the engine's own `request_agent`.
    Works for visitors without a linked account too (the engine's talk_to_agent does)."""

    action_name = "action_handover"
    needs_customer = False

    async def act(self, ctx: ActionContext) -> list[Reply]:
        sender = parse_sender(ctx.tracker.sender_id)
        if sender is None:
            return [Reply(ctx.t("rasa-link-account"))]
        conv = ctx.conversation or await transcript.upsert_conversation(
            ctx.session, channel=sender[0], chat_id=sender[1], customer_id=None, locale=None
        )
        if conv.state in (ConversationState.waiting_agent, ConversationState.agent):
            return [Reply(ctx.t("dialogs-handover-still-waiting"))]
        # the customer's last words go into the transcript the agent reads; its id also keys
        # the agents' alert, so a retried call does not alert twice
        latest = ctx.tracker.latest_message or {}
        message_id = latest.get("message_id")
        inbound_id = await transcript.add_inbound(
            ctx.session,
            conv.id,
            external_id=f"rasa:{message_id}" if message_id else None,
            text=latest.get("text") if isinstance(latest.get("text"), str) else None,
            payload={"source": "rasa", "intent": (latest.get("intent") or {}).get("name")},
        )
        if inbound_id is None:
            return [Reply(ctx.t("dialogs-handover-still-waiting"))]
        items = await handover.request_agent(
            ctx.session, ctx.settings, conv, inbound_message_id=inbound_id, reason="rasa_handover"
        )
        await transcript.add_outbound(
            ctx.session, conv.id, items, reply_to=f"rasa:{message_id}" if message_id else None
        )
        return [Reply(text) for text in _texts(items)]


def _texts(items: Iterable[Any]) -> list[str]:
    return [t for item in items if isinstance(t := getattr(item, "text", None), str) and t]


ACTIONS: tuple[type[BusinessAction], ...] = (
    CheckBalance,
    TopUp,
    ChangeTariff,
    PromisedPayment,
    OpenTicket,
    GetDocuments,
    Handover,
)
