"""Broadcasts: one text an admin sends to a segment of customers (docs/broadcasts.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import str_enum


class BroadcastStatus(StrEnum):
    scheduled = "scheduled"  # waiting for scheduled_at
    sending = "sending"  # the fan-out has begun; outbox rows are still pending
    sent = "sent"  # every recipient's row is queued and processed
    cancelled = "cancelled"


class Broadcast(IdMixin, TimestampMixin, Base):
    """A message to every customer of a segment. The fan-out (backend/broadcasts/tasks.py)
    writes one outbox row per recipient (kind `broadcast.message`) in chunks, each its own
    transaction: `last_customer_id` is where the next chunk starts, so a crash resumes, and
    `first_outbox_id`..`last_outbox_id` bound the rows written, so the progress and the
    cancellation read a range of the outbox's primary key instead of the whole table. The
    texts stay here: the worker reads them by the payload's `broadcast_id`."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_status_scheduled", "status", "scheduled_at"),)

    title: Mapped[str] = mapped_column(String(200))
    # {"ru": ..., "en": ...}: at least the default locale
    texts: Mapped[dict[str, Any]] = mapped_column()
    # {"type": "everyone" | "tariff" | "area" | "node" | "debtors" | "blocked" | "contracts", ...}
    segment: Mapped[dict[str, Any]] = mapped_column()
    marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    # rows per second made available to the worker; None: all at once
    rate_per_second: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[BroadcastStatus] = mapped_column(
        str_enum(BroadcastStatus, "broadcast_status"), default=BroadcastStatus.scheduled
    )
    scheduled_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("users.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None]  # the fan-out began
    queued_at: Mapped[datetime | None]  # the fan-out ended: every recipient has a row
    finished_at: Mapped[datetime | None]  # every row processed
    cancelled_at: Mapped[datetime | None]
    recipients: Mapped[int] = mapped_column(Integer, default=0)  # rows queued so far
    last_customer_id: Mapped[int | None] = mapped_column(BigIntPK)
    first_outbox_id: Mapped[int | None] = mapped_column(BigIntPK)
    last_outbox_id: Mapped[int | None] = mapped_column(BigIntPK)
