"""Where a customer's notice goes: the channels in order, quiet hours, and preferences.

A customer is reached, in the default order, on Telegram, then push (every registered device),
then the web chat, then e-mail, then SMS (it costs money, and only for the kinds an admin allows
in SMS_KINDS). A customer may choose, per category, which channels and in what order
(`notification_preferences["channels"]`). A normal notice goes to the first channel that
reaches them; when a channel answers that the address is unreachable (the bot is blocked, the
token unregistered) the next one is tried. An urgent notice (a block, an outage, a security
notice) goes to every live channel the customer has (Telegram, push, the web chat), and to
e-mail, then SMS, only when none of them reached them.

Besides its channel, a normal notice also appears in the customer's recent web chat
conversation (WEBCHAT_NOTIFY_DAYS), so the widget shows it live or as unread on the next visit.

Non-urgent notices wait out quiet hours (the customer's `quiet_hours`, or NOTIFY_QUIET_HOURS,
on the provider's clock, BILLING_TIMEZONE); urgent ones do not."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

TELEGRAM = "telegram"
PUSH = "fcm"
WEBCHAT = "webchat"
EMAIL = "email"
SMS = "sms"

# The default order; SMS last, it costs money.
FALLBACK_ORDER: tuple[str, ...] = (TELEGRAM, PUSH, WEBCHAT, EMAIL, SMS)
# Where the customer is "live": an urgent notice goes to all of these they have.
LIVE: frozenset[str] = frozenset({TELEGRAM, PUSH, WEBCHAT})


@dataclass(frozen=True)
class Recipient:
    customer_id: int
    email: str | None
    phone: str | None
    locale: str
    preferences: Mapping[str, Any] = field(default_factory=dict)
    telegram: tuple[str, ...] = ()  # reachable Telegram chats (private: the user's id)
    devices: tuple[str, ...] = ()  # reachable push tokens
    webchat: int | None = None  # the recent web chat conversation

    def addresses(self, channel: str) -> tuple[str, ...]:
        if channel == TELEGRAM:
            return self.telegram
        if channel == PUSH:
            return self.devices
        if channel == WEBCHAT:
            return (str(self.webchat),) if self.webchat is not None else ()
        if channel == EMAIL:
            return (self.email,) if self.email else ()
        if channel == SMS:
            return (self.phone,) if self.phone else ()
        return ()


@dataclass(frozen=True)
class Step:
    """One channel and the customer's addresses on it; the step reaches the customer when
    any address does."""

    channel: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    # every live step goes (urgent), rather than the first that reaches
    broadcast_live: bool = False
    # (channel, address) also told besides the plan (the web chat beside Telegram)
    also: tuple[Step, ...] = ()


def channel_order(preferences: Mapping[str, Any], category: str) -> tuple[str, ...]:
    """The customer's channels for this category in their order, else the default order. An
    unknown name in the stored preferences is ignored."""
    chosen = preferences.get("channels")
    if isinstance(chosen, Mapping):
        listed = chosen.get(category)
        if isinstance(listed, list) and listed:
            return tuple(c for c in listed if c in FALLBACK_ORDER)
    return FALLBACK_ORDER


def plan(
    recipient: Recipient,
    *,
    kind: str,
    category: str,
    urgent: bool,
    available: Iterable[str],
    sms_kinds: Sequence[str],
    told_in: Iterable[str] = (),
) -> Plan:
    """The channels to try for one notice, in order. `available`: the channels this process
    can send through; `told_in`: channels where the customer already got this in the
    conversation (the chat's own reply to a payment)."""
    registered = set(available)
    told = set(told_in)
    steps: list[Step] = []
    for channel in channel_order(recipient.preferences, category):
        if channel not in registered or channel in told:
            continue
        if channel == SMS and kind not in sms_kinds:
            continue
        addresses = recipient.addresses(channel)
        if addresses:
            steps.append(Step(channel, addresses))
    if not steps and told:
        return Plan(steps=())
    also: tuple[Step, ...] = ()
    webchat = [s for s in steps if s.channel == WEBCHAT]
    if not urgent and webchat and steps[0].channel != WEBCHAT:
        # the widget shows it too (live, or unread on the next visit), beside the main channel
        also = (webchat[0],)
        steps = [s for s in steps if s.channel != WEBCHAT]
    return Plan(steps=tuple(steps), broadcast_live=urgent, also=also)


# --- quiet hours -----------------------------------------------------------------------------


def parse_span(value: str) -> tuple[time, time] | None:
    """ "22:00-09:00" -> (22:00, 09:00); "" -> None (no quiet hours)."""
    value = value.strip()
    if not value:
        return None
    start, _, end = value.partition("-")
    try:
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        return None


def quiet_span(preferences: Mapping[str, Any], default: str) -> tuple[time, time] | None:
    own = preferences.get("quiet_hours")
    return parse_span(own if isinstance(own, str) else default)


def quiet_until(now: datetime, span: tuple[time, time] | None, timezone: str) -> datetime | None:
    """When quiet hours that hold `now` end (an aware UTC-comparable moment), or None when
    `now` is outside them."""
    if span is None:
        return None
    start, end = span
    if start == end:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)
