from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin


class EnrolmentLink(IdMixin, TimestampMixin, Base):
    """An admin-issued, single-use, short-lived permission for a staff user to enrol TOTP
    (docs/security.md). The token is opaque and stored as SHA-256."""

    __tablename__ = "enrolment_links"

    user_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The issuing admin; kept as a plain id (the audit log names them too).
    issued_by: Mapped[int | None] = mapped_column(BigIntPK)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
