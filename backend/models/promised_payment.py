from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import PromisedPaymentStatus, str_enum


class PromisedPayment(IdMixin, TimestampMixin, Base):
    """A temporary credit (обещанный платёж): a ledger credit now, reversed when it expires."""

    __tablename__ = "promised_payments"
    __table_args__ = (Index("ix_promised_payments_status_expires", "status", "expires_at"),)

    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[PromisedPaymentStatus] = mapped_column(
        str_enum(PromisedPaymentStatus, "promised_payment_status"),
        default=PromisedPaymentStatus.active,
    )
    expires_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
