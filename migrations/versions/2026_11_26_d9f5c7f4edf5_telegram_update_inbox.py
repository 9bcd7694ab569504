"""telegram update inbox

Revision ID: d9f5c7f4edf5
Revises: 950bf7f7026b
Create Date: 2026-11-26 09:06:25.428923
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import backend.models.base

revision: str = 'd9f5c7f4edf5'
down_revision: str | None = '950bf7f7026b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('telegram_updates',
    sa.Column('bot_id', sa.BigInteger(), nullable=False),
    sa.Column('update_id', sa.BigInteger(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('processed_at', backend.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', backend.models.base.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_telegram_updates')),
    sa.UniqueConstraint('bot_id', 'update_id', name='uq_telegram_updates_bot_update')
    )
    op.create_index('ix_telegram_updates_pending', 'telegram_updates', ['processed_at', 'id'], unique=False)
    


def downgrade() -> None:
    
    op.drop_index('ix_telegram_updates_pending', table_name='telegram_updates')
    op.drop_table('telegram_updates')
    
