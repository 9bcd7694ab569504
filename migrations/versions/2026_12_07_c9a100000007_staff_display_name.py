"""staff display name

`users.display_name`: the name customers see when an agent joins their conversation; admins set
it (PATCH /api/v1/admin/users/{user_id}).

Revision ID: c9a100000007
Revises: c9a100000006
Create Date: 2026-12-07 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c9a100000007"
down_revision: str | None = "c9a100000006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite recreates the table; PostgreSQL runs a plain ALTER.
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("display_name")
