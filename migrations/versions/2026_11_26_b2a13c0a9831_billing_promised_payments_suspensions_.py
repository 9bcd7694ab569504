"""billing: promised payments, suspensions, billing runs, idempotency keys

Revision ID: b2a13c0a9831
Revises: 4b8d4cabff37
Create Date: 2026-11-26 07:39:32.316710
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import backend.models.base

revision: str = 'b2a13c0a9831'
down_revision: str | None = '4b8d4cabff37'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('billing_runs',
    sa.Column('run_date', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('running', 'finished', 'failed', name='billing_run_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('started_at', backend.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', backend.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_subscription_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('charged_count', sa.Integer(), nullable=False),
    sa.Column('charged_total', sa.BigInteger(), nullable=False),
    sa.Column('stats', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_runs')),
    sa.UniqueConstraint('run_date', name=op.f('uq_billing_runs_run_date'))
    )
    op.create_table('idempotency_keys',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('endpoint', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', backend.models.base.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('user_id', 'key', name='uq_idempotency_keys_user_key')
    )
    op.create_table('promised_payments',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('active', 'repaid', 'expired', name='promised_payment_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('expires_at', backend.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reminded_at', backend.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', backend.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', backend.models.base.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_promised_payments_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promised_payments'))
    )
    op.create_index(op.f('ix_promised_payments_customer_id'), 'promised_payments', ['customer_id'], unique=False)
    op.create_index('ix_promised_payments_status_expires', 'promised_payments', ['status', 'expires_at'], unique=False)
    op.create_table('suspensions',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subscription_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('start_on', sa.Date(), nullable=False),
    sa.Column('end_on', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('scheduled', 'active', 'finished', 'cancelled', name='suspension_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('daily_fee', sa.BigInteger(), nullable=False),
    sa.Column('free_days', sa.Integer(), nullable=False),
    sa.Column('resumed_at', backend.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', backend.models.base.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_suspensions_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_suspensions_subscription_id_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suspensions'))
    )
    op.create_index(op.f('ix_suspensions_customer_id'), 'suspensions', ['customer_id'], unique=False)
    op.create_index('ix_suspensions_status_dates', 'suspensions', ['status', 'start_on', 'end_on'], unique=False)
    op.create_index(op.f('ix_suspensions_subscription_id'), 'suspensions', ['subscription_id'], unique=False)
    # batch mode: SQLite recreates the table; PostgreSQL runs plain ALTERs.
    with op.batch_alter_table('payments') as batch_op:
        # No payment rows exist before this revision (payments arrive with it).
        batch_op.add_column(sa.Column('public_id', sa.String(length=36), nullable=False))
        batch_op.create_unique_constraint(op.f('uq_payments_public_id'), ['public_id'])
    with op.batch_alter_table('invoices') as batch_op:
        batch_op.add_column(sa.Column('paid_amount', sa.BigInteger(), server_default='0', nullable=False))
    with op.batch_alter_table('subscriptions') as batch_op:
        batch_op.add_column(sa.Column('scheduled_tariff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('scheduled_change_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('last_tariff_change_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('blocked_at', backend.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(op.f('fk_subscriptions_scheduled_tariff_id_tariffs'), 'tariffs', ['scheduled_tariff_id'], ['id'])


def downgrade() -> None:
    
    with op.batch_alter_table('subscriptions') as batch_op:
        batch_op.drop_constraint(op.f('fk_subscriptions_scheduled_tariff_id_tariffs'), type_='foreignkey')
        batch_op.drop_column('blocked_at')
        batch_op.drop_column('last_tariff_change_on')
        batch_op.drop_column('scheduled_change_on')
        batch_op.drop_column('scheduled_tariff_id')
    with op.batch_alter_table('invoices') as batch_op:
        batch_op.drop_column('paid_amount')
    with op.batch_alter_table('payments') as batch_op:
        batch_op.drop_constraint(op.f('uq_payments_public_id'), type_='unique')
        batch_op.drop_column('public_id')
    op.drop_index(op.f('ix_suspensions_subscription_id'), table_name='suspensions')
    op.drop_index('ix_suspensions_status_dates', table_name='suspensions')
    op.drop_index(op.f('ix_suspensions_customer_id'), table_name='suspensions')
    op.drop_table('suspensions')
    op.drop_index('ix_promised_payments_status_expires', table_name='promised_payments')
    op.drop_index(op.f('ix_promised_payments_customer_id'), table_name='promised_payments')
    op.drop_table('promised_payments')
    op.drop_table('idempotency_keys')
    op.drop_table('billing_runs')
    
