from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntPK, IdMixin, TimestampMixin
from backend.models.enums import TransactionReason, str_enum


class Account(IdMixin, TimestampMixin, Base):
    """A customer's money account. `balance` caches sum(transactions.amount) and changes only
    together with a transaction row, under a row lock (backend.billing.ledger)."""

    __tablename__ = "accounts"

    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="RESTRICT"), unique=True
    )
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    balance: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units (kopecks)


class Transaction(IdMixin, TimestampMixin, Base):
    __tablename__ = "transactions"
    __table_args__ = (
        # A reference (payment id, charge period key, ...) credits or debits at most once.
        UniqueConstraint("reference_kind", "reference", name="uq_transactions_reference"),
        Index("ix_transactions_account_created", "account_id", "created_at"),
    )

    account_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("accounts.id", ondelete="RESTRICT")
    )
    amount: Mapped[int] = mapped_column(BigInteger)  # signed minor units
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[TransactionReason] = mapped_column(str_enum(TransactionReason, "txn_reason"))
    reference_kind: Mapped[str | None] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(String(255))
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_by_user_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("users.id", ondelete="RESTRICT")
    )
