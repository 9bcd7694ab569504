from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, true
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import Role, str_enum


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"), default=Role.customer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Staff only: the name customers see when this agent joins their conversation (set by an
    # admin; without it they see a generic "an operator").
    display_name: Mapped[str | None] = mapped_column(String(64))
    # TOTP secret, Fernet-encrypted with a key derived from SECRET_KEY (backend.auth.totp).
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Last accepted TOTP time step: a code for the same or an older step is a replay.
    totp_last_timecode: Mapped[int | None] = mapped_column(Integer)
    password_changed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]


class RefreshToken(IdMixin, TimestampMixin, Base):
    """Opaque refresh tokens, stored as SHA-256; rotated on every use, one family per login."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(BigIntPK)
    amr: Mapped[str] = mapped_column(String(32), default="pwd")
    expires_at: Mapped[datetime]
    family_expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class RecoveryCode(IdMixin, TimestampMixin, Base):
    """One-time 2FA recovery codes, stored hashed."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class PasswordResetCode(IdMixin, TimestampMixin, Base):
    __tablename__ = "password_reset_codes"

    user_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
