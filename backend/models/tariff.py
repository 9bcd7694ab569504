from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, IdMixin, TimestampMixin
from backend.models.enums import BillingPeriod, str_enum


class Tariff(IdMixin, TimestampMixin, Base):
    __tablename__ = "tariffs"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    speed_down_mbps: Mapped[int] = mapped_column(Integer)
    speed_up_mbps: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)  # minor units per billing period
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    billing_period: Mapped[BillingPeriod] = mapped_column(
        str_enum(BillingPeriod, "billing_period"), default=BillingPeriod.monthly
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
