"""auth hardening

Revision ID: c9a100000005
Revises: c9a100000004
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import backend.models.base

revision: str = 'c9a100000005'
down_revision: str | None = 'c9a100000004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Admin-issued staff TOTP enrolment links (backend/models/enrolment_link.py).
    op.create_table(
        'enrolment_links',
        sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('issued_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('expires_at', backend.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', backend.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', backend.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('created_at', backend.models.base.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_enrolment_links_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment_links')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_enrolment_links_token_hash')),
    )
    op.create_index(op.f('ix_enrolment_links_user_id'), 'enrolment_links', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_enrolment_links_user_id'), table_name='enrolment_links')
    op.drop_table('enrolment_links')
