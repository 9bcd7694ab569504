"""The agent API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReplyIn(Strict):
    text: Annotated[str, Field(min_length=1, max_length=4000)] | None = Field(
        default=None, description="the message; with `document_id`, the document's caption"
    )
    document_id: Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)] | None = Field(
        default=None, description="one of this conversation's customer's documents"
    )

    @model_validator(mode="after")
    def _one_of(self) -> ReplyIn:
        if self.text is None and self.document_id is None:
            raise ValueError("give `text`, `document_id` or both")
        return self


class CloseIn(Strict):
    resolution: Annotated[str, Field(min_length=1, max_length=500)]


class TransferIn(Strict):
    agent_id: Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)] = Field(
        description="the agent or admin who takes the conversation over"
    )


class ConversationOut(BaseModel):
    id: int
    channel: str
    state: Literal["bot", "waiting_agent", "agent", "closed"]
    customer_id: int | None
    agent_id: int | None
    locale: str | None
    updated_at: datetime = Field(description="when the state last changed (waiting since)")


class ConversationItem(ConversationOut):
    """A conversation in the queue or in an agent's list, with what the console shows."""

    customer_name: str | None = None
    contract_number: str | None = None
    last_message: str | None = Field(
        default=None, description="the newest message's text, at most 200 characters"
    )
    last_message_from: Literal["customer", "bot", "agent", "system"] | None = None
    waiting_seconds: int = Field(default=0, description="since the state last changed")
    slots: dict[str, Any] = Field(default_factory=dict, description="the details the bot collected")
    awaiting_reply: bool = Field(
        default=False,
        description="the customer wrote after the last agent's message (waits for a person)",
    )


class ConversationList(BaseModel):
    items: list[ConversationItem]


class AttachmentOut(BaseModel):
    index: int
    kind: str = Field(description="photo, document, voice, sticker, video, audio, ...")
    filename: str | None
    url: str | None = Field(description="where the console fetches the file (None: no file)")


class MessageOut(BaseModel):
    id: int
    direction: Literal["in", "out"]
    sender: Literal["customer", "bot", "agent", "system"]
    agent_id: int | None
    text: str | None
    item: dict[str, Any] | None = Field(description="the Outbound item as the engine sent it")
    attachments: list[AttachmentOut] = Field(
        default_factory=list, description="photos, files, voice the customer sent"
    )
    created_at: datetime


class CustomerSummary(BaseModel):
    id: int
    full_name: str
    contract_number: str
    balance: int | None = Field(description="minor units")
    currency: str | None
    days_left: int | None
    tariff: str | None
    subscription_status: str | None


class BotState(BaseModel):
    flow: str | None
    step: str | None
    slots: dict[str, Any]
    misses: int


class MessageList(BaseModel):
    items: list[MessageOut]


class NoteOut(BaseModel):
    id: int
    author_id: int | None
    author_name: str | None = Field(description="the author's display name, else their e-mail")
    text: str
    created_at: datetime


class ConversationDetail(BaseModel):
    conversation: ConversationOut
    bot: BotState = Field(description="the flow the bot was in and the slots it collected")
    customer: CustomerSummary | None
    messages: list[MessageOut]
    notes: list[NoteOut] = Field(
        default_factory=list, description="the agents' internal notes; the customer never sees them"
    )


class MessageCreated(BaseModel):
    message_id: int
