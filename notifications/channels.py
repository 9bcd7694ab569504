"""Delivery channels: one protocol, a registry keyed by the payload's "channel", the stand-ins
for email and SMS (outside production: a log line and a file under DATA_DIR/dev-mail), and the
web chat (the notice appended to the customer's conversation in the widget).

Adding a channel: write a class with `async send(message)` that raises
- `UnreachableError` when this address cannot be reached on this channel (the bot is blocked,
  the push token is unregistered, the mailbox does not exist): the worker records it and tries
  the customer's next channel;
- `PermanentDeliveryError` for what neither retrying nor another channel can fix (a malformed
  message): the row is dead-lettered;
- `TemporaryDeliveryError` for what may pass (timeouts, 429, 5xx), with `retry_after` when the
  provider said how long to wait;
then register it in `notifications.registry.default_channels()` when its settings are present.
A channel that sends many messages in one call (FCM: up to 500) also has `send_many(messages)`,
returning one outcome per message (None when sent, else the DeliveryError); the worker groups a
batch's messages for it."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, IntegrityError

from backend.config import Settings
from backend.db import unit_of_work
from backend.logging import get_logger
from backend.state import Resources
from backend.validation import normalize_phone
from backend.webchat import live
from dialogs.handover import EVENTS_CHANNEL
from notifications import repository

log = get_logger("notifications")

WEBCHAT = "webchat"


class DeliveryError(Exception):
    """Base of channel failures. The message becomes the outbox row's last_error, so it must
    not contain the text being sent."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: the row is dead-lettered at once."""


class UnreachableError(PermanentDeliveryError):
    """This address cannot be reached on this channel (blocked bot, unregistered token,
    unknown mailbox): the worker tries the customer's next channel."""


class TemporaryDeliveryError(DeliveryError):
    """Retry later with backoff, or after `retry_after` seconds when the provider said so."""

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
    # More (channel, address) pairs that get the same text besides `channel` (the web chat
    # beside email or SMS), sent first; their failures never stop the main one.
    also: tuple[tuple[str, str], ...] = ()
    # The customer the message is for (None for a direct message such as a reset code).
    customer_id: int | None = None


class Channel(Protocol):
    async def send(self, message: Rendered) -> None: ...


class BatchChannel(Channel, Protocol):
    async def send_many(self, messages: Sequence[Rendered]) -> list[DeliveryError | None]: ...


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


def dev_mail_dir(settings: Settings) -> Path:
    """Where the stand-in email and SMS channels put whole messages outside production."""
    return settings.data_dir / "dev-mail"


async def _write_dev_mail(mailbox: Path, message: Rendered, to: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = mailbox / f"{stamp}-{message.outbox_id}-{message.channel}.txt"
    head = [f"To: {to}", f"Kind: {message.kind}"]
    if message.subject:
        head.append(f"Subject: {message.subject}")
    body = "\n".join(head) + "\n\n" + message.text + "\n"

    def write() -> None:
        mailbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Readable by the developer only: a message may hold a one-time code.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)

    await asyncio.to_thread(write)
    return path


class LogEmailChannel:
    """The stand-in for email until a real provider exists. The log gets the kind and the
    recipient only, never the text (it may hold a one-time code, and logs travel far). With a
    `mailbox` (development and tests) the whole message is written to a file there, which is
    how the demo reads a password-reset code."""

    def __init__(self, mailbox: Path | None = None) -> None:
        self.mailbox = mailbox

    async def send(self, message: Rendered) -> None:
        local, _, domain = message.to.partition("@")
        if not local or "." not in domain or any(c.isspace() for c in message.to):
            raise PermanentDeliveryError("invalid email address")
        path = await _write_dev_mail(self.mailbox, message, message.to) if self.mailbox else None
        log.info(
            "email (log channel)",
            outbox_id=message.outbox_id,
            kind=message.kind,
            to=message.to,
            file=path.name if path else None,
        )


class LogSmsChannel:
    """The stand-in for SMS: as LogEmailChannel."""

    def __init__(self, mailbox: Path | None = None) -> None:
        self.mailbox = mailbox

    async def send(self, message: Rendered) -> None:
        try:
            to = normalize_phone(message.to)
        except ValueError:
            raise PermanentDeliveryError("invalid phone number") from None
        path = await _write_dev_mail(self.mailbox, message, to) if self.mailbox else None
        log.info(
            "sms (log channel)",
            outbox_id=message.outbox_id,
            kind=message.kind,
            to=to,
            file=path.name if path else None,
        )


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


class WebchatChannel:
    """A notice in the customer's web chat conversation (the address is its id): stored as the
    bot's message in the transcript, once per outbox row, then announced on the conversation's
    Redis channel, so an open widget shows it at once and a closed one on the next visit
    (docs/webchat-protocol.md, "Notifications in the widget"). It reaches the customer only
    when a widget is open (backend/webchat/live.widget_open); otherwise it raises
    UnreachableError after storing, and the worker tries the next channel."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def send(self, message: Rendered) -> None:
        try:
            conversation_id = int(message.to)
        except ValueError:
            raise PermanentDeliveryError("invalid web chat conversation id") from None
        try:
            async with unit_of_work(self.resources.sessionmaker) as session:
                message_id = await repository.append_notice(
                    session, conversation_id, message.outbox_id, message.kind, message.text
                )
        except IntegrityError:
            raise PermanentDeliveryError("the web chat conversation no longer exists") from None
        except (DBAPIError, OSError) as exc:
            raise TemporaryDeliveryError(f"transcript unavailable: {type(exc).__name__}") from None
        event = {"type": "notification", "conversation_id": conversation_id,
                 "message_id": message_id}  # fmt: skip
        try:
            await self.resources.redis.publish(
                EVENTS_CHANNEL.format(conversation_id), json.dumps(event)
            )
        except (RedisError, OSError):
            # stored: the widget's next ping or visit shows it
            log.warning("webchat notice not announced", conversation_id=conversation_id)
        try:
            shown = await live.widget_open(self.resources.redis, conversation_id)
        except (RedisError, OSError):
            shown = False
        if not shown:
            # Stored as unread for the next visit; the customer has not seen it yet, so the
            # worker goes on to their next channel.
            raise UnreachableError("no widget open: stored as unread for the next visit")


async def close_channels(channels: ChannelRegistry) -> None:
    """Close what the channels hold open (a Bot's HTTP session, an HTTP client)."""
    for name in channels:
        channel = channels[name]
        close = getattr(channel, "aclose", None) or getattr(channel, "close", None)
        if close is None:
            continue
        try:
            await close()
        except Exception:
            log.warning("channel did not close cleanly", channel=name)
