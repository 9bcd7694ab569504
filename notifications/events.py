"""Domain events addressed to a customer, turned into one message each.

Domains enqueue what happened (`ticket.updated` with a ticket and a customer id,
`billing.low_balance` with a balance); they do not know the customer's channels. Here an event
kind gets its template, its arguments, the preference that can silence it and whether it is
urgent; notifications/routing.py picks the channels that reach the customer (Telegram, push, the
web chat, e-mail, SMS) and notifications/worker.py sends it.

Every kind the backend writes to the outbox is in exactly one of EVENTS (a message to the
customer), INTERNAL (nobody is told: the row is marked done with a note), DIRECT (the payload
names its channel, address and template) or ADAPTER (a channel adapter consumes it). A kind in
none of them is dead-lettered, so a new event without a notice shows up
(tests/notifications/test_event_catalogue.py fails first).

Two marks a producer may put in an event's payload, read here for the routing:
- `"told_in": {"telegram": "<chat id>"}`: the customer already read this in that conversation
  (the bot's reply to `successful_payment` is the credit notice; the chat that was just linked
  saw "✅ contract linked"), so it is not sent to that channel again (`told_in()`).
- `"urgent": true`: this one event does not wait out quiet hours even though its kind does
  (maintenance that starts before the quiet hours end; `is_urgent()`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from backend.config import Settings

# (payload, settings, locale of the text) -> the template's arguments. A missing or malformed
# payload field raises KeyError, TypeError or ValueError: the worker dead-letters the row.
ArgsBuilder = Callable[[Mapping[str, Any], Settings, str], dict[str, Any]]


def _no_args(_payload: Mapping[str, Any], _settings: Settings, _locale: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class EventNotice:
    template: str
    # The key of Customer.notification_preferences that turns this kind off (SECURITY: none).
    category: str
    args: ArgsBuilder = _no_args
    # Sent at once, quiet hours or not, to every live channel the customer has: what they must
    # know now (they are cut off, the network is down, someone is in their account).
    urgent: bool = False


# The categories a customer can turn off: the keys of Customer.notification_preferences
# (backend/models/customer.py, default_notification_preferences).
BILLING = "billing"
TICKETS = "tickets"
OUTAGES = "outages"
MARKETING = "marketing"
# Security notices (a new sign-in, a password changed, a Telegram account linked) are the
# customer's only way to learn that someone else is in their account, so no preference turns
# them off: SECURITY is deliberately not a preference key (`silenced()` ignores it).
SECURITY = "security"
ALWAYS_SENT: frozenset[str] = frozenset({SECURITY})

TOLD_IN = "told_in"


def silenced(notice: EventNotice, preferences: Mapping[str, Any]) -> bool:
    """Whether the customer turned this notice's category off (never for SECURITY)."""
    if notice.category in ALWAYS_SENT:
        return False
    return preferences.get(notice.category, True) is False


def is_urgent(notice: EventNotice, payload: Mapping[str, Any]) -> bool:
    """The kind is urgent, or the producer marked this one event `"urgent": true`."""
    return notice.urgent or payload.get("urgent") is True


def told_in(payload: Mapping[str, Any]) -> frozenset[str]:
    """The channels on which the customer already read this notice in the conversation; the
    routing skips them. The producers write `"told_in": {channel: address}` (the address for
    the record: which chat it was); a bare channel name or a list of them reads too."""
    mark = payload.get(TOLD_IN)
    if isinstance(mark, str):
        return frozenset({mark})
    if isinstance(mark, Mapping | list):
        return frozenset(channel for channel in mark if isinstance(channel, str))
    return frozenset()


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
    """ "answered" carries the staff answer's text ("answer", cut by the producer), shown in the
    message; rows written before the answer travelled with the event ("reply", or an answer
    without text) only say that there is one."""
    event = str(payload.get("event") or "status_changed")
    args: dict[str, Any] = {"ticket": int(payload["ticket_id"]), "status": str(payload["status"])}
    if event in ("answered", "reply"):
        answer = payload.get("answer")
        if isinstance(answer, str) and answer.strip():
            return {**args, "event": "answered", "answer": answer.strip()}
        return {**args, "event": "reply"}
    return {**args, "event": event}


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
    """Both producers (the monthly run and an invoice on demand) write "amount" (minor units),
    "due_date" (ISO) and "currency": the text names the sum and the deadline; with "status":
    "paid" (the balance already covered it, as the monthly run does for prepaid customers) it
    does not ask to pay. A payload with the number only still reads (older rows)."""
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


def _maintenance_args(
    payload: Mapping[str, Any], settings: Settings, locale: str
) -> dict[str, Any]:
    ends = payload.get("ends_at")
    return {
        "title": str(payload["title"]),
        "start": _moment_arg(payload["starts_at"], settings, locale),
        "end": "none" if ends is None else _moment_arg(ends, settings, locale),
    }


def _optional_text(payload: Mapping[str, Any], name: str) -> str:
    """A short descriptive field, or "none" (the template's variant for "not known")."""
    value = payload.get(name)
    if value is None or value == "":
        return "none"
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {value!r}")
    return value


def _sign_in_args(payload: Mapping[str, Any], settings: Settings, locale: str) -> dict[str, Any]:
    # "device" ("Chrome, Windows") and "network" ("203.0.113.*") are coarse on purpose: the
    # producer never writes the whole address (backend/auth/notices.py).
    return {
        "at": _moment_arg(payload["at"], settings, locale),
        "device": _optional_text(payload, "device"),
        "network": _optional_text(payload, "network"),
    }


def _password_changed_args(
    payload: Mapping[str, Any], settings: Settings, locale: str
) -> dict[str, Any]:
    how = payload["how"]
    if how not in ("changed", "reset"):
        raise ValueError(f"how must be changed or reset, not {how!r}")
    return {"at": _moment_arg(payload["at"], settings, locale), "how": how}


def _moment_only_args(
    payload: Mapping[str, Any], settings: Settings, locale: str
) -> dict[str, Any]:
    return {"at": _moment_arg(payload["at"], settings, locale)}


EVENTS: dict[str, EventNotice] = {
    "ticket.updated": EventNotice("ticket-updated", TICKETS, _ticket_args),
    "billing.low_balance": EventNotice("billing-low-balance", BILLING, _low_balance_args),
    "subscription.blocked": EventNotice(
        "billing-subscription-blocked", BILLING, _blocked_args, urgent=True
    ),
    "subscription.restored": EventNotice("billing-subscription-restored", BILLING),
    "outage.started": EventNotice(
        "network-outage-started", OUTAGES, _outage_started_args, urgent=True
    ),
    # urgent too: "we will write when it is fixed" is a promise the customer waits on
    "outage.resolved": EventNotice("network-outage-resolved", OUTAGES, _outage_args, urgent=True),
    # Announced ahead, so it may wait out quiet hours; the producer marks one "urgent" when
    # the work starts before they would end (backend/network/service.py).
    "maintenance.planned": EventNotice("network-maintenance-planned", OUTAGES, _maintenance_args),
    "security.new_sign_in": EventNotice(
        "auth-security-new-sign-in", SECURITY, _sign_in_args, urgent=True
    ),
    "security.password_changed": EventNotice(
        "auth-security-password-changed", SECURITY, _password_changed_args, urgent=True
    ),
    "security.telegram_linked": EventNotice(
        "auth-security-telegram-linked", SECURITY, _moment_only_args, urgent=True
    ),
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
