from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import PaymentStatus, str_enum


class Payment(IdMixin, TimestampMixin, Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_payment_id", name="uq_payments_provider_payment"),
        UniqueConstraint("customer_id", "idempotency_key", name="uq_payments_idempotency"),
        # what reconciliation scans: the pending payments, oldest first
        Index("ix_payments_status_created", "status", "created_at"),
    )

    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("invoices.id", ondelete="SET NULL")
    )
    # Shown to customers and providers (URLs, Telegram invoice payloads) instead of the id.
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_payment_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    status: Mapped[PaymentStatus] = mapped_column(
        str_enum(PaymentStatus, "payment_status"), default=PaymentStatus.pending
    )
    confirmation_url: Mapped[str | None] = mapped_column(String(1024))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credited_at: Mapped[datetime | None]
    # The sum of the refunds recorded in payment_refunds (minor units), kept under the row lock.
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # When reconciliation last claimed the payment to ask its provider (a lease between
    # workers, and the pause before the next look).
    checked_at: Mapped[datetime | None]


class PaymentRefund(IdMixin, TimestampMixin, Base):
    """A refund the provider made (in its dashboard or API): one ledger debit each."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        UniqueConstraint(
            "provider", "provider_refund_id", name="uq_payment_refunds_provider_refund"
        ),
    )

    payment_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    provider_refund_id: Mapped[str] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units, positive
    currency: Mapped[str] = mapped_column(String(3))
    transaction_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("transactions.id", ondelete="SET NULL")
    )
