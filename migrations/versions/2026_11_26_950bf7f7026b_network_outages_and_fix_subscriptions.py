"""network outages and fix subscriptions

Revision ID: 950bf7f7026b
Revises: b2a13c0a9831
Create Date: 2026-11-26 08:43:56.140466
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.models.base

revision: str = '950bf7f7026b'
down_revision: str | None = 'b2a13c0a9831'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('outages',
    sa.Column('area', sa.String(length=64), nullable=True),
    sa.Column('node', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.Enum('open', 'resolved', name='outage_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('started_at', backend.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expected_fix_at', backend.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', backend.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('source_ref', sa.String(length=128), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', backend.models.base.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outages')),
    sa.UniqueConstraint('source_ref', name=op.f('uq_outages_source_ref'))
    )
    op.create_index('ix_outages_status_area_node', 'outages', ['status', 'area', 'node'], unique=False)
    op.create_table('outage_subscriptions',
    sa.Column('outage_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('conversation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', backend.models.base.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_outage_subscriptions_conversation_id_conversations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_outage_subscriptions_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outage_id'], ['outages.id'], name=op.f('fk_outage_subscriptions_outage_id_outages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outage_subscriptions')),
    sa.UniqueConstraint('outage_id', 'customer_id', name='uq_outage_subscriptions_customer')
    )
    op.create_index(op.f('ix_outage_subscriptions_outage_id'), 'outage_subscriptions', ['outage_id'], unique=False)
    


def downgrade() -> None:
    
    op.drop_index(op.f('ix_outage_subscriptions_outage_id'), table_name='outage_subscriptions')
    op.drop_table('outage_subscriptions')
    op.drop_index('ix_outages_status_area_node', table_name='outages')
    op.drop_table('outages')
    
