"""notification deliveries and outbox priority

`notification_deliveries`: one row per message to one address on one channel, under a unique key
(the outbox worker's record of what went out, and the delivery log agents see);
`outbox.priority`: a customer's own notices go before a broadcast's rows.

Revision ID: c9a100000009
Revises: c9a100000008
Create Date: 2026-12-07 17:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.models.base

revision: str = "c9a100000009"
down_revision: str | None = "c9a100000008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, *, nullable: bool) -> sa.Column:
    return sa.Column(name, backend.models.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=600), nullable=False),
        sa.Column("outbox_id", _ID, nullable=True),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("sent_at", nullable=True),
        sa.Column(
            "created_at",
            backend.models.base.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_notification_deliveries_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint("key", name=op.f("uq_notification_deliveries_key")),
    )
    op.create_index(
        "ix_notification_deliveries_customer",
        "notification_deliveries",
        ["customer_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_notification_deliveries_outbox_id"),
        "notification_deliveries",
        ["outbox_id"],
        unique=False,
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("priority")
    op.drop_index(op.f("ix_notification_deliveries_outbox_id"), table_name="notification_deliveries")
    op.drop_index("ix_notification_deliveries_customer", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
