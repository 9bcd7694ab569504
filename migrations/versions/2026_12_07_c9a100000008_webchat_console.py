"""web chat files, consent, agent notes and canned responses

`webchat_files`: photos and files widget visitors attach (the bytes in the database, so every
app process serves them); `conversations.consented_at`: the visitor's consent to personal-data
processing (152-FZ), asked once before identification; `conversation_notes`: agents' internal
notes; `canned_responses`: ready answers admins manage for the agent console.

Revision ID: c9a100000008
Revises: c9a100000007
Create Date: 2026-12-07 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.models.base

revision: str = "c9a100000008"
down_revision: str | None = "c9a100000007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, *, nullable: bool) -> sa.Column:
    return sa.Column(name, backend.models.base.UTCDateTime(timezone=True), nullable=nullable)


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at",
        backend.models.base.UTCDateTime(timezone=True),
        server_default=sa.func.now(),
        nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(_when("consented_at", nullable=True))
    op.create_table(
        "webchat_files",
        sa.Column("public_id", sa.String(length=43), nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_webchat_files_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_files")),
        sa.UniqueConstraint("public_id", name=op.f("uq_webchat_files_public_id")),
    )
    op.create_index("ix_webchat_files_conversation", "webchat_files", ["conversation_id"])
    op.create_table(
        "conversation_notes",
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("author_id", _ID, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_notes_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_conversation_notes_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_notes")),
    )
    op.create_index(
        "ix_conversation_notes_conversation", "conversation_notes", ["conversation_id", "id"]
    )
    op.create_table(
        "canned_responses",
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        _when("updated_at", nullable=False),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
    )


def downgrade() -> None:
    op.drop_table("canned_responses")
    op.drop_index("ix_conversation_notes_conversation", table_name="conversation_notes")
    op.drop_table("conversation_notes")
    op.drop_index("ix_webchat_files_conversation", table_name="webchat_files")
    op.drop_table("webchat_files")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("consented_at")
