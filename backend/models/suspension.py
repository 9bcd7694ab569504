from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import SuspensionStatus, str_enum


class Suspension(IdMixin, TimestampMixin, Base):
    """A voluntary pause (vacation): no tariff charges between start_on and end_on inclusive."""

    __tablename__ = "suspensions"
    __table_args__ = (Index("ix_suspensions_status_dates", "status", "start_on", "end_on"),)

    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    start_on: Mapped[date]
    end_on: Mapped[date]
    status: Mapped[SuspensionStatus] = mapped_column(
        str_enum(SuspensionStatus, "suspension_status"), default=SuspensionStatus.scheduled
    )
    daily_fee: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units per paid day
    free_days: Mapped[int] = mapped_column(default=0)  # days of this pause free of the fee
    resumed_at: Mapped[datetime | None]
