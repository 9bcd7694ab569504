from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import Channel, str_enum


class ChannelIdentity(IdMixin, TimestampMixin, Base):
    """A customer's address on a channel: a Telegram user id, a push device token (FID)."""

    __tablename__ = "channel_identities"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_channel_identities_channel_ext"),
    )

    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "identity_channel"))
    external_id: Mapped[str] = mapped_column(String(512))
    is_reachable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    unreachable_reason: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # platform, app version ...
    last_seen_at: Mapped[datetime | None]
