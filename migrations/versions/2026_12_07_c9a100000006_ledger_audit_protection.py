"""ledger audit protection

The ledger (`transactions`) becomes append-only like the audit log (a PostgreSQL trigger
refuses UPDATE and DELETE); money rows no longer disappear with a customer (their foreign keys
to customers RESTRICT instead of CASCADE); the users who wrote ledger or audit rows are kept by
RESTRICT instead of a SET NULL that the append-only triggers would refuse anyway. On
PostgreSQL, no role but the tables' owner keeps UPDATE, DELETE or TRUNCATE on the audit log
and the ledger (docs/security.md, scripts/db-roles.sql).

Revision ID: c9a100000006
Revises: c9a100000005
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision: str = 'c9a100000006'
down_revision: str | None = 'c9a100000005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referred table, ondelete before, ondelete after)
FOREIGN_KEYS = (
    ("accounts", "customer_id", "customers", "CASCADE", "RESTRICT"),
    ("transactions", "account_id", "accounts", "CASCADE", "RESTRICT"),
    ("transactions", "created_by_user_id", "users", "SET NULL", "RESTRICT"),
    ("invoices", "customer_id", "customers", "CASCADE", "RESTRICT"),
    ("payments", "customer_id", "customers", "CASCADE", "RESTRICT"),
    ("promised_payments", "customer_id", "customers", "CASCADE", "RESTRICT"),
    ("audit_log", "actor_user_id", "users", "SET NULL", "RESTRICT"),
)

APPEND_ONLY = ("audit_log", "transactions")

# Whoever was granted UPDATE, DELETE or TRUNCATE on an append-only table (an app role through
# default privileges, PUBLIC) loses it; the owner keeps its rights (it runs the migrations).
_REVOKE_FROM_NON_OWNERS = """
DO $$
DECLARE
    grantee_name text;
BEGIN
    FOR grantee_name IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                             ELSE quote_ident(r.rolname) END
        FROM pg_class c
        CROSS JOIN LATERAL aclexplode(c.relacl) a
        LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.oid IN ('audit_log'::regclass, 'transactions'::regclass)
          AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
          AND a.grantee <> c.relowner
    LOOP
        EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, transactions FROM '
            || grantee_name;
    END LOOP;
END $$;
"""


def _fk_name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def _set_foreign_keys(after: bool) -> None:
    # batch mode: SQLite recreates each table (backend.migrate turns foreign key enforcement
    # off meanwhile, so recreating a parent table deletes nothing); PostgreSQL runs ALTERs.
    for table, column, referred, before_rule, after_rule in FOREIGN_KEYS:
        name = _fk_name(table, column, referred)
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(name), type_="foreignkey")
            batch_op.create_foreign_key(
                op.f(name),
                referred,
                [column],
                ["id"],
                ondelete=after_rule if after else before_rule,
            )


def upgrade() -> None:
    _set_foreign_keys(after=True)
    if op.get_bind().dialect.name == "postgresql":
        # The ledger is append-only: a mistake is corrected by a new row, never by editing.
        op.execute(
            """
            CREATE FUNCTION transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'transactions is append-only (the ledger: post a correcting row)';
            END $$;
            """
        )
        op.execute(
            "CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions "
            "FOR EACH ROW EXECUTE FUNCTION transactions_append_only()"
        )
        op.execute(_REVOKE_FROM_NON_OWNERS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS transactions_append_only ON transactions")
        op.execute("DROP FUNCTION IF EXISTS transactions_append_only()")
    _set_foreign_keys(after=False)
