from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import OutageStatus, str_enum


class Outage(IdMixin, TimestampMixin, Base):
    """A known network failure in an area or on a node (codes as stored on customers)."""

    __tablename__ = "outages"
    __table_args__ = (Index("ix_outages_status_area_node", "status", "area", "node"),)

    area: Mapped[str | None] = mapped_column(String(64))
    node: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[OutageStatus] = mapped_column(
        str_enum(OutageStatus, "outage_status"), default=OutageStatus.open
    )
    started_at: Mapped[datetime]
    expected_fix_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # e.g. the Alertmanager alert fingerprint, so a repeated alert updates the same outage
    source_ref: Mapped[str | None] = mapped_column(String(128), unique=True)


class OutageSubscription(IdMixin, TimestampMixin, Base):
    """A customer who asked to be told when an outage is fixed."""

    __tablename__ = "outage_subscriptions"
    __table_args__ = (
        UniqueConstraint("outage_id", "customer_id", name="uq_outage_subscriptions_customer"),
    )

    outage_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("outages.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("conversations.id", ondelete="SET NULL")
    )
