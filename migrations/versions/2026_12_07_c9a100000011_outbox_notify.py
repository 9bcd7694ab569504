"""outbox insert notifications

On PostgreSQL every INSERT statement into `outbox` notifies the channel "outbox" once (a
statement-level trigger: a broadcast's bulk insert is one notification), which wakes the
notification workers (notifications/wakeup.py). SQLite has no notifications; workers poll.

Revision ID: c9a100000011
Revises: c9a100000010
Create Date: 2026-12-07 18:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c9a100000011"
down_revision: str | None = "c9a100000010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('outbox', '');
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_inserted AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_inserted ON outbox")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify()")
