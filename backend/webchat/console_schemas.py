"""Request and response bodies of the agent console's API (backend/webchat/console_api.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.models import TicketCategory
from backend.validation import Line, Text
from backend.webchat.agent_schemas import NoteOut

Locale = Literal["ru", "en"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- presence ---------------------------------------------------------------------------------


class PresenceIn(Strict):
    status: Literal["online", "away", "offline"]


class PresenceOut(BaseModel):
    status: Literal["online", "away", "offline"]
    requeued: list[int] = Field(
        default_factory=list,
        description="conversations put back in the queue (going offline while customers wait)",
    )


class AgentOut(BaseModel):
    id: int
    display_name: str | None
    role: Literal["agent", "admin"]
    status: Literal["online", "away", "offline"]


class AgentList(BaseModel):
    items: list[AgentOut]


# --- canned responses -------------------------------------------------------------------------


class CannedIn(Strict):
    title: Line = Field(min_length=1, max_length=100)
    body: Text = Field(
        min_length=1,
        max_length=4000,
        description="may hold {name}, {first_name}, {contract}, {balance}, {agent}",
    )
    locale: Locale | None = Field(default=None, description="ru, en, or null for every language")
    is_active: bool = True


class CannedPatch(Strict):
    """Only the fields present change."""

    title: Line | None = Field(default=None, min_length=1, max_length=100)
    body: Text | None = Field(default=None, min_length=1, max_length=4000)
    locale: Locale | None = None
    is_active: bool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> CannedPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        for name in ("title", "body", "is_active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class CannedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    locale: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class CannedList(BaseModel):
    items: list[CannedOut]


class CannedText(BaseModel):
    text: str = Field(description="filled in; placeholders without a value stay as typed")


class CannedSent(CannedText):
    message_id: int


# --- notes, typing, payment link, ticket ----------------------------------------------------


class NoteIn(Strict):
    text: Text = Field(min_length=1, max_length=4000)


class NoteList(BaseModel):
    """The notes endpoints answer with the conversation detail's note shape."""

    items: list[NoteOut]


class TypingOut(BaseModel):
    published: bool = Field(
        description="false when an indicator was sent less than 2 s ago (nothing to do)"
    )


class PaymentLinkIn(Strict):
    amount: Annotated[int, Field(strict=True, ge=1, le=10**12)] = Field(
        description="minor units; the top-up limits of the settings apply"
    )


class PaymentLinkOut(BaseModel):
    message_id: int
    payment_id: str = Field(description="the payment's public id")
    amount: int
    currency: str
    confirmation_url: str | None


class TicketFromConversationIn(Strict):
    subject: Line = Field(min_length=3, max_length=200)
    category: TicketCategory = TicketCategory.other


# --- customers ----------------------------------------------------------------------------


class CustomerHit(BaseModel):
    id: int
    full_name: str
    contract_number: str
    phone: str | None
    email: str | None
    telegram: bool = Field(description="a Telegram account is linked")


class CustomerHits(BaseModel):
    items: list[CustomerHit]


class TariffCard(BaseModel):
    name: str
    price: int
    currency: str
    speed_down_mbps: int
    speed_up_mbps: int
    billing_period: str


class PromisedCard(BaseModel):
    id: int
    amount: int
    fee: int
    expires_at: datetime


class FreezeCard(BaseModel):
    id: int
    start_on: date
    end_on: date
    status: str


class TicketCard(BaseModel):
    id: int
    subject: str
    status: str
    priority: str
    created_at: datetime


class PaymentCard(BaseModel):
    id: str
    status: str
    amount: int
    currency: str
    created_at: datetime


class DocumentCard(BaseModel):
    id: int
    kind: str
    title: str
    period: str
    created_at: datetime


class ChannelCard(BaseModel):
    channel: str
    external_id: str | None = Field(description="the Telegram user id; push tokens are not shown")
    is_reachable: bool
    last_seen_at: datetime | None


class DeliveryCard(BaseModel):
    """One notice to the customer on one channel (the delivery log)."""

    kind: str = Field(description="the notice, e.g. payment.credited")
    channel: str
    status: str = Field(
        description="sent, failed (unreachable there: the next channel was tried), sending, "
        "retry or dead"
    )
    error: str | None
    created_at: datetime
    sent_at: datetime | None


class ConversationCard(BaseModel):
    id: int
    channel: str
    state: str
    agent_id: int | None


class CustomerCard(BaseModel):
    id: int
    full_name: str
    contract_number: str
    phone: str | None
    email: str | None
    locale: str
    status: str | None = Field(
        description="the subscription's status (active, blocked, suspended ...); null without one"
    )
    balance: int = Field(description="minor units")
    currency: str
    days_left: int | None
    tariff: TariffCard | None
    promised_payment: PromisedCard | None = Field(description="the active one")
    freeze: FreezeCard | None = Field(description="the current or next pause of the service")
    open_tickets: list[TicketCard]
    recent_payments: list[PaymentCard]
    documents: list[DocumentCard]
    channels: list[ChannelCard]
    conversations: list[ConversationCard]
    notifications: list[DeliveryCard] = Field(
        description="the latest notices sent to the customer, newest first"
    )
