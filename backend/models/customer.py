from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin


def default_notification_preferences() -> dict[str, Any]:
    return {"billing": True, "outages": True, "tickets": True, "marketing": False}


class Customer(IdMixin, TimestampMixin, Base):
    __tablename__ = "customers"

    user_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    contract_number: Mapped[str] = mapped_column(String(32), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # {"city", "street", "building", "apartment", "postcode", "text"}
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    locale: Mapped[str] = mapped_column(String(8), default="ru")
    network_area: Mapped[str | None] = mapped_column(String(64), index=True)
    network_node: Mapped[str | None] = mapped_column(String(64), index=True)
    notification_preferences: Mapped[dict[str, Any]] = mapped_column(
        default=default_notification_preferences
    )
