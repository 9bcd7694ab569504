"""Delivery channels: one protocol, a registry keyed by the payload's "channel", and the
embedded defaults that only log.

Adding a channel (Telegram, FCM, web chat): write a class with `async send(message)` that
raises `PermanentDeliveryError` for what retrying cannot fix (blocked bot, unregistered push
token, invalid address) and `TemporaryDeliveryError` for what it may (timeouts, 429, 5xx), then
register it in `default_channels()` when its settings are present."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from backend.config import Settings
from backend.logging import get_logger
from backend.validation import normalize_phone

log = get_logger("notifications")


class DeliveryError(Exception):
    """Base of channel failures. The message becomes the outbox row's last_error, so it must
    not contain the text being sent."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: the row is dead-lettered at once."""


class TemporaryDeliveryError(DeliveryError):
    """Retry later with backoff."""


@dataclass(frozen=True)
class Rendered:
    """One message for one recipient, ready to send."""

    outbox_id: int
    kind: str
    channel: str
    to: str
    locale: str
    text: str
    subject: str | None = None
    # The whole payload, for channels that need more than an address (buttons, a customer id
    # to look up Telegram chats, a push data dict).
    payload: Mapping[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    async def send(self, message: Rendered) -> None: ...


class ChannelRegistry(Mapping[str, Channel]):
    def __init__(self, channels: Mapping[str, Channel] | None = None) -> None:
        self._channels: dict[str, Channel] = dict(channels or {})

    def register(self, name: str, channel: Channel) -> None:
        self._channels[name] = channel

    def __getitem__(self, name: str) -> Channel:
        return self._channels[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)


class LogEmailChannel:
    """The embedded default for email: the rendered message goes to the log. A one-time code
    shows up in that log line on purpose (that is how the demo reads it); it is stored nowhere
    else."""

    async def send(self, message: Rendered) -> None:
        local, _, domain = message.to.partition("@")
        if not local or "." not in domain or any(c.isspace() for c in message.to):
            raise PermanentDeliveryError("invalid email address")
        log.info(
            "email (log channel)",
            outbox_id=message.outbox_id,
            to=message.to,
            subject=message.subject,
            text=message.text,
        )


class LogSmsChannel:
    """The embedded default for SMS: logs the text (see LogEmailChannel)."""

    async def send(self, message: Rendered) -> None:
        try:
            to = normalize_phone(message.to)
        except ValueError:
            raise PermanentDeliveryError("invalid phone number") from None
        log.info("sms (log channel)", outbox_id=message.outbox_id, to=to, text=message.text)


class FakeChannel:
    """In-memory channel for tests: records what was sent; `fail_with` makes the next sends
    raise (set it back to None to recover); `delay` simulates a slow provider."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sent: list[Rendered] = []
        self.fail_with: DeliveryError | None = None
        self.delay = delay
        self.calls = 0

    async def send(self, message: Rendered) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)


def default_channels(settings: Settings) -> ChannelRegistry:
    """The channels this process can deliver through. Email and SMS log in every setup until
    real providers exist; Telegram (TELEGRAM_BOT_TOKEN), FCM (FCM_CREDENTIALS) and web chat
    register here when they land."""
    registry = ChannelRegistry()
    registry.register("email", LogEmailChannel())
    registry.register("sms", LogSmsChannel())
    return registry
