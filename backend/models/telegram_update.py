from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, IdMixin, TimestampMixin

# Rows still to be processed (pending, or failed with attempts left): the claim of a chat's
# next row and the running process's retry sweep read only these (docs/telegram.md).
OPEN_STATUSES = "status IN ('pending', 'failed')"


class TelegramUpdate(IdMixin, TimestampMixin, Base):
    """The Telegram inbox: every update is stored (unique update_id per bot) before it is
    acknowledged, then processed once; what fails, or what a dead process held, is retried
    by the running process (bot/inbox.py)."""

    __tablename__ = "telegram_updates"
    __table_args__ = (
        UniqueConstraint("bot_id", "update_id", name="uq_telegram_updates_bot_update"),
        Index("ix_telegram_updates_pending", "processed_at", "id"),
        Index(
            "ix_telegram_updates_open",
            "bot_id",
            "chat_id",
            "update_id",
            postgresql_where=text(OPEN_STATUSES),
            sqlite_where=text(OPEN_STATUSES),
        ),
    )

    bot_id: Mapped[int] = mapped_column(BigInteger)
    update_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|failed
    # The process (bot.inbox.Inbox.owner) that claimed the row last: outcomes are written only
    # by the claimer, so a process that lost a chat to a takeover cannot overwrite them.
    claimed_by: Mapped[str | None] = mapped_column(String(96))
    # Not before this time: the backoff of a retried row.
    retry_at: Mapped[datetime | None]
