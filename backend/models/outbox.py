from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.clock import utcnow
from backend.models.base import Base, IdMixin, TimestampMixin
from backend.models.enums import OutboxStatus, str_enum


class OutboxMessage(IdMixin, TimestampMixin, Base):
    """A side effect written in the same transaction as its cause, delivered after commit."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_available", "status", "available_at"),)

    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    # Lower goes first: a customer's own notices (0) are not held up behind a broadcast's
    # hundred thousand rows (backend/broadcasts writes them with a higher number).
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
