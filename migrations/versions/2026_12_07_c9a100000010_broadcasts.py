"""broadcasts

`broadcasts`: a text admins send to a segment of customers, now or at a scheduled time; the
fan-out writes one outbox row per recipient (docs/broadcasts.md).

Revision ID: c9a100000010
Revises: c9a100000009
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backend.models.base

revision: str = "c9a100000010"
down_revision: str | None = "c9a100000009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when(name: str, *, nullable: bool) -> sa.Column:
    return sa.Column(name, backend.models.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("texts", _JSON, nullable=False),
        sa.Column("segment", _JSON, nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("rate_per_second", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled",
                "sending",
                "sent",
                "cancelled",
                name="broadcast_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        _when("scheduled_at", nullable=False),
        sa.Column("created_by", _ID, nullable=True),
        _when("started_at", nullable=True),
        _when("queued_at", nullable=True),
        _when("finished_at", nullable=True),
        _when("cancelled_at", nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("last_customer_id", _ID, nullable=True),
        sa.Column("first_outbox_id", _ID, nullable=True),
        sa.Column("last_outbox_id", _ID, nullable=True),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            backend.models.base.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_broadcasts_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    op.create_index(
        "ix_broadcasts_status_scheduled", "broadcasts", ["status", "scheduled_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_broadcasts_status_scheduled", table_name="broadcasts")
    op.drop_table("broadcasts")
