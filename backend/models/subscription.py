from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import SubscriptionStatus, str_enum


class Subscription(IdMixin, TimestampMixin, Base):
    __tablename__ = "subscriptions"

    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    tariff_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("tariffs.id"))
    status: Mapped[SubscriptionStatus] = mapped_column(
        str_enum(SubscriptionStatus, "subscription_status"), default=SubscriptionStatus.active
    )
    started_on: Mapped[date]
    period_start: Mapped[date]
    period_end: Mapped[date]
    ended_on: Mapped[date | None]
    # A downgrade waits for the next period: the tariff and the day it takes effect.
    scheduled_tariff_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("tariffs.id"))
    scheduled_change_on: Mapped[date | None]
    last_tariff_change_on: Mapped[date | None]
    blocked_at: Mapped[datetime | None]
