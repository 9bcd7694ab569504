"""telegram inbox fencing

Revision ID: c9a100000003
Revises: d9f5c7f4edf5
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.models.base

revision: str = 'c9a100000003'
down_revision: str | None = 'd9f5c7f4edf5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('pending', 'failed')"


def upgrade() -> None:
    with op.batch_alter_table('telegram_updates') as batch:
        batch.add_column(sa.Column('claimed_by', sa.String(length=96), nullable=True))
        batch.add_column(
            sa.Column('retry_at', backend.models.base.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_index(
        'ix_telegram_updates_open',
        'telegram_updates',
        ['bot_id', 'chat_id', 'update_id'],
        unique=False,
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index('ix_telegram_updates_open', table_name='telegram_updates')
    with op.batch_alter_table('telegram_updates') as batch:
        batch.drop_column('retry_at')
        batch.drop_column('claimed_by')
