"""payments refunds reconciliation

Revision ID: c9a100000004
Revises: c9a100000003
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.models.base

revision: str = "c9a100000004"
down_revision: str | None = "c9a100000003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD_STATUSES = ("pending", "succeeded", "cancelled", "failed")
NEW_STATUSES = (*OLD_STATUSES, "expired")


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="payment_status", native_enum=False, create_constraint=True, length=32
    )


def upgrade() -> None:
    # batch mode: SQLite recreates the table (and its CHECK); PostgreSQL runs plain ALTERs.
    with op.batch_alter_table("payments") as batch_op:
        batch_op.alter_column(
            "status",
            type_=_status(NEW_STATUSES),
            existing_type=_status(OLD_STATUSES),
            existing_nullable=False,
        )
        batch_op.add_column(
            sa.Column("refunded_amount", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("checked_at", backend.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_payments_status_created", ["status", "created_at"], unique=False)
    op.create_table(
        "payment_refunds",
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_refund_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "created_at",
            backend.models.base.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_refunds_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_payment_refunds_transaction_id_transactions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint(
            "provider", "provider_refund_id", name="uq_payment_refunds_provider_refund"
        ),
    )
    op.create_index(
        op.f("ix_payment_refunds_payment_id"), "payment_refunds", ["payment_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_payment_refunds_payment_id"), table_name="payment_refunds")
    op.drop_table("payment_refunds")
    # the old CHECK knows no "expired": such payments were abandoned, i.e. cancelled
    op.execute("UPDATE payments SET status = 'cancelled' WHERE status = 'expired'")
    with op.batch_alter_table("payments") as batch_op:
        batch_op.drop_index("ix_payments_status_created")
        batch_op.drop_column("checked_at")
        batch_op.drop_column("refunded_amount")
        batch_op.alter_column(
            "status",
            type_=_status(OLD_STATUSES),
            existing_type=_status(NEW_STATUSES),
            existing_nullable=False,
        )
