"""Domain events addressed to a customer, turned into one message each.

Domains enqueue what happened (`ticket.updated` with a ticket and a customer id,
`billing.low_balance` with a balance); they do not know the customer's channels. Here an event
kind gets its template, its arguments and the preference that can silence it, and the customer
gets the first channel that reaches them (`pick_channel`). The web chat comes in addition: when
a web chat conversation was identified to the customer within WEBCHAT_NOTIFY_DAYS, the same text
also appears there as the bot's message (or only there, when no other channel reaches them;
notifications/worker.py).

Every kind the backend writes to the outbox is in exactly one of EVENTS (a message to the
customer), INTERNAL (nobody is told: the row is marked done with a note) or DIRECT (the payload
names its channel, address and template). A kind in none of them is dead-lettered, so a new
event without a notice shows up (tests/notifications/test_event_catalogue.py fails first)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from backend.config import Settings


@dataclass(frozen=True)
class Recipient:
    customer_id: int
    email: str | None
    phone: str | None
    locale: str
    preferences: Mapping[str, Any] = field(default_factory=dict)


# (payload, settings, locale of the text) -> the template's arguments. A missing or malformed
# payload field raises KeyError, TypeError or ValueError: the worker dead-letters the row.
ArgsBuilder = Callable[[Mapping[str, Any], Settings, str], dict[str, Any]]


def _no_args(_payload: Mapping[str, Any], _settings: Settings, _locale: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class EventNotice:
    template: str
    # The key of Customer.notification_preferences that turns this kind off.
    category: str
    args: ArgsBuilder = _no_args


BILLING = "billing"
TICKETS = "tickets"
OUTAGES = "outages"


def _outage_args(payload: Mapping[str, Any], _: Settings, _locale: str) -> dict[str, Any]:
    return {"title": str(payload["title"])}


# --- argument helpers --------------------------------------------------------------------------


def _major(value: Any) -> Decimal:
    """Integer minor units -> major units exactly (no float rounding of kopecks)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an amount must be an integer number of minor units, not {value!r}")
    return Decimal(value).scaleb(-2)


def _day(value: date, locale: str) -> str:
    # The same forms as the PDF documents: ru "01.11.2026", en ISO (unambiguous everywhere).
    return value.isoformat() if locale == "en" else f"{value:%d.%m.%Y}"


def _iso_date(value: Any) -> date:
    if not isinstance(value, str):
        raise TypeError(f"a date must be an ISO string, not {value!r}")
    return date.fromisoformat(value)


def _date_arg(value: Any, locale: str) -> str:
    """A payload's ISO date ("2026-11-01") as the reader writes it."""
    return _day(_iso_date(value), locale)


def _moment_arg(value: Any, settings: Settings, locale: str) -> str:
    """A payload's ISO timestamp as a date and time on the provider's clock."""
    if not isinstance(value, str):
        raise TypeError(f"a timestamp must be an ISO string, not {value!r}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"a timestamp needs its offset: {value!r}")
    local = moment.astimezone(ZoneInfo(settings.billing_timezone))
    return f"{_day(local.date(), locale)} {local:%H:%M}"


def _currency(payload: Mapping[str, Any], settings: Settings) -> str:
    currency = payload.get("currency") or settings.currency
    if not isinstance(currency, str):
        raise TypeError(f"a currency must be a code, not {currency!r}")
    return currency


# --- arguments per event -------------------------------------------------------------------


def _ticket_args(payload: Mapping[str, Any], _: Settings, _locale: str) -> dict[str, Any]:
    return {
        "ticket": int(payload["ticket_id"]),
        "status": str(payload["status"]),
        "event": str(payload.get("event") or "status_changed"),
    }


def _low_balance_args(payload: Mapping[str, Any], settings: Settings, _: str) -> dict[str, Any]:
    return {
        "balance": _major(payload["balance"]),
        "currency": settings.currency,
        "days": int(payload["days_left"]),
    }


def _blocked_args(_payload: Mapping[str, Any], settings: Settings, _: str) -> dict[str, Any]:
    # Offer the promised payment only where the provider gives one.
    return {"promised": "yes" if settings.pp_enabled else "no"}


def _payment_credited_args(
    payload: Mapping[str, Any], settings: Settings, _: str
) -> dict[str, Any]:
    return {
        "amount": _major(payload["amount"]),
        "balance": _major(payload["balance"]),
        "currency": _currency(payload, settings),
    }


def _invoice_issued_args(
    payload: Mapping[str, Any], settings: Settings, locale: str
) -> dict[str, Any]:
    """Both producers (the monthly run and an invoice on demand) write only the number today.
    With "amount" (minor units), "due_date" (ISO) and optionally "currency" in the payload the
    text names the sum and the deadline; with "status": "paid" (the balance already covered
    it, as the monthly run does for prepaid customers) it does not ask to pay."""
    number = payload["number"]
    if not isinstance(number, str) or not number:
        raise TypeError(f"an invoice number must be a string, not {number!r}")
    if "amount" not in payload or "due_date" not in payload:
        return {"number": number, "state": "issued"}
    return {
        "number": number,
        "state": "paid" if payload.get("status") == "paid" else "due",
        "amount": _major(payload["amount"]),
        "currency": _currency(payload, settings),
        "due": _date_arg(payload["due_date"], locale),
    }


def _promised_args(payload: Mapping[str, Any], settings: Settings, locale: str) -> dict[str, Any]:
    return {
        "amount": _major(payload["amount"]),
        "until": _moment_arg(payload["expires_at"], settings, locale),
    }


def _promised_expired_args(payload: Mapping[str, Any], _: Settings, _l: str) -> dict[str, Any]:
    return {"balance": _major(payload["balance"])}


def _tariff_args(payload: Mapping[str, Any], _: Settings, locale: str) -> dict[str, Any]:
    name = payload["tariff_name"]
    if not isinstance(name, str) or not name:
        raise TypeError(f"a tariff name must be a string, not {name!r}")
    return {"tariff": name, "date": _date_arg(payload["effective_on"], locale)}


def _suspension_period_args(payload: Mapping[str, Any], _: Settings, locale: str) -> dict[str, Any]:
    return {
        "start": _date_arg(payload["start_on"], locale),
        "end": _date_arg(payload["end_on"], locale),
    }


def _suspension_started_args(
    payload: Mapping[str, Any], _: Settings, locale: str
) -> dict[str, Any]:
    # end_on is the last day of the pause; the service is back the day after.
    return {"resume": _day(_iso_date(payload["end_on"]) + timedelta(days=1), locale)}


def _suspension_ending_args(payload: Mapping[str, Any], _: Settings, locale: str) -> dict[str, Any]:
    return {"resume": _date_arg(payload["resume_on"], locale)}


def _outage_started_args(
    payload: Mapping[str, Any], settings: Settings, locale: str
) -> dict[str, Any]:
    eta = payload.get("expected_fix_at")
    return {
        "title": str(payload["title"]),
        "eta": "none" if eta is None else _moment_arg(eta, settings, locale),
    }


def _suspension_start_args(payload: Mapping[str, Any], _: Settings, locale: str) -> dict[str, Any]:
    return {"start": _date_arg(payload["start_on"], locale)}


EVENTS: dict[str, EventNotice] = {
    "ticket.updated": EventNotice("ticket-updated", TICKETS, _ticket_args),
    "billing.low_balance": EventNotice("billing-low-balance", BILLING, _low_balance_args),
    "subscription.blocked": EventNotice("billing-subscription-blocked", BILLING, _blocked_args),
    "subscription.restored": EventNotice("billing-subscription-restored", BILLING),
    "outage.started": EventNotice("network-outage-started", OUTAGES, _outage_started_args),
    "outage.resolved": EventNotice("network-outage-resolved", OUTAGES, _outage_args),
    "invoice.issued": EventNotice("billing-invoice-issued", BILLING, _invoice_issued_args),
    "payment.credited": EventNotice("payments-credited", BILLING, _payment_credited_args),
    # The texts of these live in locales/*/billing.ftl, next to the actions that cause them.
    "promised_payment.granted": EventNotice(
        "billing-promised-payment-granted", BILLING, _promised_args
    ),
    "promised_payment.expiring": EventNotice(
        "billing-promised-payment-expiring", BILLING, _promised_args
    ),
    "promised_payment.expired": EventNotice(
        "billing-promised-payment-expired", BILLING, _promised_expired_args
    ),
    "tariff.changed": EventNotice("billing-tariff-changed", BILLING, _tariff_args),
    "tariff.change_scheduled": EventNotice(
        "billing-tariff-change-scheduled", BILLING, _tariff_args
    ),
    "tariff.change_cancelled": EventNotice("billing-tariff-change-cancelled", BILLING),
    "suspension.scheduled": EventNotice(
        "billing-suspension-scheduled", BILLING, _suspension_period_args
    ),
    "suspension.started": EventNotice(
        "billing-suspension-started", BILLING, _suspension_started_args
    ),
    "suspension.ending": EventNotice("billing-suspension-ending", BILLING, _suspension_ending_args),
    "suspension.ended": EventNotice("billing-suspension-ended", BILLING),
    "suspension.cancelled": EventNotice(
        "billing-suspension-cancelled", BILLING, _suspension_start_args
    ),
}

# Events that tell the customer nothing new. The worker marks them done with a note.
INTERNAL: frozenset[str] = frozenset(
    {
        # Every invoice paid by a top-up comes with payment.credited, which already tells the
        # customer the money arrived and the balance; the invoice's status is in the account.
        # (A staff adjustment or a tariff refund that pays an invoice is staff's own
        # conversation with the customer.)
        "invoice.paid",
        # The monthly act comes for every customer every month, and an invoice's PDF follows
        # its invoice.issued: a message each would be noise. A document asked for on demand is
        # handed over in the API answer; the payload carries no "requested by the customer"
        # mark that could tell the cases apart.
        "document.ready",
    }
)

# Messages whose payload names its channel, its address and its template: the worker sends
# them as they are (a password-reset code goes where it was asked for).
DIRECT: frozenset[str] = frozenset({"auth.password_reset_code"})

# Conversation events belong to the channel adapters and the agent console, never to a
# customer's email or SMS: the notification worker does not claim them, so they wait in the
# outbox for the consumer that delivers them (the Telegram adapter delivers
# `conversation.agent_reply` by its message id; the worker's `deliver_conversation_events`
# announces `conversation.waiting_agent` to the consoles and marks web chat replies and
# `conversation.customer_message` rows done: the socket and the console read the transcript).
ADAPTER: frozenset[str] = frozenset(
    {"conversation.agent_reply", "conversation.customer_message", "conversation.waiting_agent"}
)

# Channels in the order they are tried, with the customer's address on each. Telegram and push
# go in front when they land (their address comes from ChannelIdentity); SMS costs money, so
# it comes last.
ADDRESS_OF: dict[str, Callable[[Recipient], str | None]] = {
    "email": lambda r: r.email,
    "sms": lambda r: r.phone,
}


def pick_channel(recipient: Recipient, available: set[str]) -> tuple[str, str] | None:
    """The first registered channel on which the customer has an address."""
    for name, address_of in ADDRESS_OF.items():
        address = address_of(recipient)
        if name in available and address:
            return name, address
    return None
