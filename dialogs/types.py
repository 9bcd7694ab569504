"""The engine's neutral vocabulary: what a channel adapter hands in (`Inbound`) and what it gets
back (`Outbound` items). No aiogram, no fastapi: the Telegram bot and the web widget render
these their own way.

Every Outbound item round-trips through `to_dict()` / `outbound_from_dict()` because the engine
stores each one in the transcript (conversation_messages.payload["item"]) and a redelivered
inbound gets the stored replies back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ChannelName = Literal["telegram", "webchat"]

# Telegram's callback_data is 1-64 bytes; the widget keeps the same limit so one payload
# format serves both channels.
MAX_PAYLOAD_BYTES = 64
PAYLOAD_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class Contact:
    """A shared phone contact (Telegram). `user_id` is the contact's own Telegram id: linking
    trusts the phone only when it equals the sender (docs/architecture.md, "Identity across
    channels")."""

    phone: str
    user_id: str | None = None
    first_name: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str  # "photo" | "document" | "sticker" | ... as the channel names it
    file_id: str
    filename: str | None = None
    # what the adapter knows of the file (the widget's uploads: sniffed type, bytes)
    content_type: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    channel: ChannelName
    chat_id: str
    # Telegram update_id / the widget's client message id: the engine processes each once.
    external_id: str | None = None
    customer_id: int | None = None
    locale: str | None = None
    text: str | None = None
    payload: str | None = None  # a button's payload (see `Payload`)
    contact: Contact | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    payload: str

    def __post_init__(self) -> None:
        if len(self.payload.encode()) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"button payload longer than {MAX_PAYLOAD_BYTES} bytes")


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()  # rows of buttons
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class DocumentOut:
    document_id: int
    filename: str
    caption: str | None = None
    kind: Literal["document"] = "document"


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    payment_public_id: str
    amount: int  # minor units
    currency: str
    confirmation_url: str | None = None  # a payment link (widget, or Telegram without invoices)
    # the arguments of bot.send_invoice (backend.payments.schemas.TelegramInvoice) when the bot
    # takes payments with Telegram invoices
    telegram: dict[str, Any] | None = None
    text: str | None = None  # what to say with it
    kind: Literal["payment"] = "payment"


@dataclass(frozen=True, slots=True)
class HandoverNotice:
    state: Literal["waiting_agent", "agent", "bot", "closed"]
    text: str
    kind: Literal["handover"] = "handover"


Outbound = Text | DocumentOut | PaymentRequest | HandoverNotice


def to_dict(item: Outbound) -> dict[str, Any]:
    return asdict(item)


def outbound_from_dict(data: dict[str, Any]) -> Outbound:
    kind = data.get("kind")
    values = {k: v for k, v in data.items() if k != "kind"}
    if kind == "text":
        rows = tuple(tuple(Button(**b) for b in row) for row in values.pop("buttons", ()))
        return Text(buttons=rows, **values)
    if kind == "document":
        return DocumentOut(**values)
    if kind == "payment":
        return PaymentRequest(**values)
    if kind == "handover":
        return HandoverNotice(**values)
    raise ValueError(f"unknown outbound kind {kind!r}")


def text_of(item: Outbound) -> str | None:
    """What the transcript shows as the message's text."""
    if isinstance(item, Text | HandoverNotice):
        return item.text
    if isinstance(item, DocumentOut):
        return item.caption or item.filename
    return item.text


@dataclass(frozen=True, slots=True)
class Payload:
    """A button payload: `v1:<flow>:<step>:<arg>`.

    The version lets a later release recognise a button from an old message (a different
    version, a flow that no longer exists, or a step the conversation is no longer at) and
    answer it politely instead of acting on it. `flow` "nav" holds the universal buttons
    (menu, cancel, back)."""

    flow: str
    step: str = ""
    arg: str = ""
    version: str = PAYLOAD_VERSION

    def encode(self) -> str:
        raw = f"{self.version}:{self.flow}:{self.step}:{self.arg}"
        if len(raw.encode()) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload longer than {MAX_PAYLOAD_BYTES} bytes: {raw!r}")
        return raw

    @classmethod
    def decode(cls, raw: str | None) -> Payload | None:
        """None for anything that is not a payload of the current version."""
        if not raw or len(raw.encode()) > MAX_PAYLOAD_BYTES:
            return None
        parts = raw.split(":", 3)
        if len(parts) != 4 or parts[0] != PAYLOAD_VERSION or not parts[1]:
            return None
        return cls(flow=parts[1], step=parts[2], arg=parts[3])


def payload(flow: str, step: str = "", arg: str | int = "") -> str:
    return Payload(flow=flow, step=step, arg=str(arg)).encode()


@dataclass(slots=True)
class ParsedIntent:
    """The part of Rasa's parse shape the engine routes on."""

    name: str | None = None
    confidence: float = 0.0
    entities: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rasa(cls, parsed: dict[str, Any]) -> ParsedIntent:
        intent = parsed.get("intent") or {}
        entities: dict[str, Any] = {}
        for entity in parsed.get("entities") or []:
            name = entity.get("entity")
            if isinstance(name, str) and name not in entities:
                entities[name] = entity.get("value")
        confidence = intent.get("confidence")
        return cls(
            name=intent.get("name") if isinstance(intent.get("name"), str) else None,
            confidence=float(confidence) if isinstance(confidence, int | float) else 0.0,
            entities=entities,
        )
