"""What the web channel and the agent console keep beside the transcript: files visitors attach
in the widget, the agents' internal notes, and the canned responses admins manage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.clock import utcnow
from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin, UTCDateTime


class WebchatFile(IdMixin, TimestampMixin, Base):
    """A photo or file a widget visitor attached. The bytes live in the database (small, limited
    by WEBCHAT_MAX_FILE_BYTES), so every app process serves them; the transcript message refers
    to it as `{"file_id": "web:<public_id>"}`, the way a Telegram attachment refers to its
    Telegram file_id."""

    __tablename__ = "webchat_files"
    __table_args__ = (Index("ix_webchat_files_conversation", "conversation_id"),)

    public_id: Mapped[str] = mapped_column(String(43), unique=True)
    conversation_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ConversationNote(IdMixin, TimestampMixin, Base):
    """An agent's internal note on a conversation: staff see it, the customer never does."""

    __tablename__ = "conversation_notes"
    __table_args__ = (Index("ix_conversation_notes_conversation", "conversation_id", "id"),)

    conversation_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    author_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("users.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text)


class CannedResponse(IdMixin, TimestampMixin, Base):
    """A ready answer agents insert; admins manage them. `body` may hold placeholders such as
    `{name}` and `{contract}`, filled from the customer's card."""

    __tablename__ = "canned_responses"

    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    # ru / en, or None for every language
    locale: Mapped[str | None] = mapped_column(String(8))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
