from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import InvoiceStatus, str_enum


class Invoice(IdMixin, TimestampMixin, Base):
    __tablename__ = "invoices"

    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    # Credits allocated to this invoice, oldest invoice first; paid when it reaches `amount`.
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    status: Mapped[InvoiceStatus] = mapped_column(
        str_enum(InvoiceStatus, "invoice_status"), default=InvoiceStatus.pending
    )
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    issued_on: Mapped[date]
    due_date: Mapped[date]
    paid_at: Mapped[datetime | None]
