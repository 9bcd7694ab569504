from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin


class NotificationDelivery(IdMixin, TimestampMixin, Base):
    """One message to one address on one channel: the per-recipient record of the outbox
    worker (notifications/worker.py). `key` ("{outbox_id}:{channel}:{address}") is unique, so
    a row claimed again after a crash finds what already went out and does not send it twice;
    the rows of a customer are the delivery log agents see beside the conversation."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_customer", "customer_id", "id"),)

    key: Mapped[str] = mapped_column(String(600), unique=True)
    outbox_id: Mapped[int | None] = mapped_column(BigIntPK, index=True)
    customer_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(512))
    # sending (the send is under way or its outcome is unknown), sent, failed (this address
    # cannot be reached: the next channel was tried), dead (the worker gave up), skipped
    # (quiet hours, preferences, already told in the conversation), retry
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
