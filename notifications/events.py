"""Domain events addressed to a customer, turned into one message each.

Domains enqueue what happened (`ticket.updated` with a ticket and a customer id,
`billing.low_balance` with a balance); they do not know the customer's channels. Here an event
kind gets its template, its arguments and the preference that can silence it, and the customer
gets the first channel that reaches them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from backend.config import Settings


@dataclass(frozen=True)
class Recipient:
    customer_id: int
    email: str | None
    phone: str | None
    locale: str
    preferences: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventNotice:
    template: str
    # The key of Customer.notification_preferences that turns this kind off.
    category: str
    args: Callable[[Mapping[str, Any], Settings], dict[str, Any]]


def _ticket_args(payload: Mapping[str, Any], _: Settings) -> dict[str, Any]:
    return {
        "ticket": int(payload["ticket_id"]),
        "status": str(payload["status"]),
        "event": str(payload.get("event") or "status_changed"),
    }


def _low_balance_args(payload: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    # minor units -> major units exactly (no float rounding of kopecks)
    return {
        "balance": Decimal(int(payload["balance"])).scaleb(-2),
        "currency": settings.currency,
        "days": int(payload["days_left"]),
    }


EVENTS: dict[str, EventNotice] = {
    "ticket.updated": EventNotice("ticket-updated", "tickets", _ticket_args),
    "billing.low_balance": EventNotice("billing-low-balance", "billing", _low_balance_args),
}

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
