from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.clock import utcnow
from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import (
    Channel,
    ConversationState,
    MessageDirection,
    MessageSender,
    str_enum,
)


class Conversation(IdMixin, TimestampMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("channel", "chat_id", name="uq_conversations_channel_chat"),
        Index("ix_conversations_state", "state"),
    )

    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "conversation_channel"))
    chat_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[ConversationState] = mapped_column(
        str_enum(ConversationState, "conversation_state"), default=ConversationState.bot
    )
    agent_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("users.id", ondelete="SET NULL")
    )
    locale: Mapped[str | None] = mapped_column(String(8))
    # Flow state and slots (the durable fallback when Redis loses it).
    flow: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When the web visitor agreed to the processing of personal data (152-FZ); asked once,
    # before the first identification in the widget.
    consented_at: Mapped[datetime | None] = mapped_column()


class ConversationMessage(IdMixin, TimestampMixin, Base):
    __tablename__ = "conversation_messages"
    __table_args__ = (
        # Telegram update_id / widget client message id: a redelivery is a no-op.
        UniqueConstraint("conversation_id", "external_id", name="uq_conversation_messages_ext"),
        Index("ix_conversation_messages_conv_id", "conversation_id", "id"),
    )

    conversation_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    direction: Mapped[MessageDirection] = mapped_column(
        str_enum(MessageDirection, "message_direction")
    )
    sender: Mapped[MessageSender] = mapped_column(str_enum(MessageSender, "message_sender"))
    agent_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("users.id", ondelete="SET NULL")
    )
    external_id: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
