"""The least-privilege setup on real PostgreSQL: scripts/db-roles.sql makes an owner and an app
role in a fresh database, the migrations run as the owner (MIGRATE_DATABASE_URL), and the app,
connected as the app role, works normally while it cannot rewrite, empty or unguard the audit
log and the ledger."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from backend.app import create_app
from backend.config import ROOT_DIR
from backend.db import unit_of_work
from backend.migrate import migrate_database
from backend.models import Role
from backend.state import Resources
from tests.backend.payments.helpers import signed_event
from tests.conftest import TEST_DATABASE_URL, make_settings
from tests.factories import signed_in_customer, signed_in_user

pytestmark = pytest.mark.slow

SCRIPT = ROOT_DIR / "scripts" / "db-roles.sql"
SANDBOX_SECRET = "demo-sandbox-webhook-secret"


@dataclasses.dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    superuser: str
    database: str
    owner: str
    app: str

    def url(self, role: str) -> str:
        return f"postgresql+asyncpg://{role}:pw-{role}@{self.host}:{self.port}/{self.database}"

    async def connect(self, role: str | None = None) -> asyncpg.Connection:
        return await asyncpg.connect(
            host=self.host,
            port=self.port,
            user=role or self.superuser,
            password=f"pw-{role}" if role else None,
            database=self.database,
        )


def _run_script(cluster: Cluster) -> None:
    psql = shutil.which("psql")
    assert psql, "psql (PostgreSQL's client) is needed to run scripts/db-roles.sql"
    env = {**os.environ, "PGPASSWORD": ""}
    subprocess.run(
        [psql, "-X", "-q", "-h", cluster.host, "-p", str(cluster.port), "-U", cluster.superuser,
         "-d", cluster.database, "-v", "ON_ERROR_STOP=1", "-v", f"owner={cluster.owner}",
         "-v", f"owner_password=pw-{cluster.owner}", "-v", f"app={cluster.app}",
         "-v", f"app_password=pw-{cluster.app}", "-f", str(SCRIPT)],
        check=True,
        env=env,
        capture_output=True,
        timeout=60,
    )  # fmt: skip


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    base = make_url(TEST_DATABASE_URL)
    suffix = os.getpid()
    c = Cluster(
        host=base.host or "127.0.0.1",
        port=base.port or 5432,
        superuser=base.username or "postgres",
        database=f"provider_desk_roles_{suffix}",
        owner=f"pd_owner_{suffix}",
        app=f"pd_app_{suffix}",
    )
    admin = await asyncpg.connect(
        host=c.host, port=c.port, user=c.superuser, password=base.password, database="postgres"
    )

    async def drop() -> None:
        await admin.execute(f'DROP DATABASE IF EXISTS "{c.database}" WITH (FORCE)')
        for role in (c.app, c.owner):
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')

    try:
        await drop()
        await admin.execute(f'CREATE DATABASE "{c.database}"')
        yield c
    finally:
        await drop()
        await admin.close()


async def _refused(conn: asyncpg.Connection, sql: str) -> str:
    with pytest.raises(asyncpg.PostgresError) as info:
        await conn.execute(sql)
    return str(info.value)


async def test_app_role_works_but_cannot_rewrite_audit_or_ledger(cluster: Cluster) -> None:
    # As in docker-compose: the roles first, on the empty database; then the migrations as the
    # owner; the default privileges cover the tables they create.
    await asyncio.to_thread(_run_script, cluster)
    settings = make_settings(
        database_url=cluster.url(cluster.app), migrate_database_url=cluster.url(cluster.owner)
    )
    await migrate_database(settings)
    su = await cluster.connect()
    try:
        # the migration itself took back what the default privileges gave on these two
        for table in ("audit_log", "transactions"):
            for privilege, expected in (
                ("SELECT", True),
                ("INSERT", True),
                ("UPDATE", False),
                ("DELETE", False),
                ("TRUNCATE", False),
            ):
                held = await su.fetchval(
                    "SELECT has_table_privilege($1, $2, $3)", cluster.app, table, privilege
                )
                assert held is expected, (table, privilege)
    finally:
        await su.close()
    # and the script again on the migrated database: idempotent, same result
    await asyncio.to_thread(_run_script, cluster)

    su = await cluster.connect()
    try:
        owners = await su.fetch(
            "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S')"
        )
        assert [r["owner"] for r in owners] == [cluster.owner]
        app_role = await su.fetchrow(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1",
            cluster.app,
        )
        assert tuple(app_role) == (False, False, False)
    finally:
        await su.close()

    # Normal work as the app role: sign-in data, a customer, an admin adjustment and a payment
    # credited by the provider's webhook, through the HTTP API.
    res = Resources.create(settings)
    try:
        async with unit_of_work(res.sessionmaker) as session:
            customer, customer_headers = await signed_in_customer(session, settings)
            _, admin_headers = await signed_in_user(session, settings, Role.admin)
            customer_id = customer.id
        app = create_app(settings, resources=res, roles=[])
        transport = ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as api:
            r = await api.post(
                f"/api/v1/customers/{customer_id}/adjustments",
                json={"amount": 5000, "reason": "goodwill credit"},
                headers={**admin_headers, "Idempotency-Key": "adj-1"},
            )
            assert r.status_code == 201, r.text
            r = await api.post(
                "/api/v1/payments",
                json={"amount": 15000},
                headers={**customer_headers, "Idempotency-Key": "pay-1"},
            )
            assert r.status_code == 201, r.text
            provider_id = str(r.json()["confirmation_url"]).rsplit("/", 1)[1]
            body, signed = signed_event(SANDBOX_SECRET, "payment.succeeded", provider_id, 15000)
            r = await api.post("/api/v1/payments/webhooks/sandbox", content=body, headers=signed)
            assert r.status_code == 200, r.text
            r = await api.get("/api/v1/billing/balance", headers=customer_headers)
            assert r.status_code == 200, r.text
            assert r.json()["amount"] == 20000
        async with res.sessionmaker() as session:
            audited = await session.scalar(text("SELECT count(*) FROM audit_log"))
            assert audited and audited >= 2
            with pytest.raises(DBAPIError, match="permission denied"):
                await session.execute(text("DELETE FROM transactions"))
    finally:
        await res.close()

    # What the app role may not do, straight on its own connection.
    app_conn = await cluster.connect(cluster.app)
    try:
        for table in ("audit_log", "transactions"):
            assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") > 0  # noqa: S608
            for sql in (
                f"UPDATE {table} SET id = id",  # noqa: S608
                f"DELETE FROM {table}",  # noqa: S608
                f"TRUNCATE {table}",
                f"TRUNCATE {table} CASCADE",
            ):
                assert "permission denied" in await _refused(app_conn, sql), sql
            for sql in (
                f"ALTER TABLE {table} DISABLE TRIGGER ALL",
                f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only",
                f"DROP TRIGGER {table}_append_only ON {table}",
                f"DROP TABLE {table} CASCADE",
            ):
                assert "must be owner" in await _refused(app_conn, sql), sql
        # no TRUNCATE and no DDL anywhere, and no way round the triggers
        assert "permission denied" in await _refused(app_conn, "TRUNCATE customers CASCADE")
        assert "permission denied" in await _refused(app_conn, "CREATE TABLE t (x int)")
        assert "permission denied" in await _refused(
            app_conn, "SET session_replication_role = replica"
        )
        assert "permission denied" in await _refused(
            app_conn, "UPDATE alembic_version SET version_num = 'x'"
        )
        # ordinary tables: all of SELECT, INSERT, UPDATE, DELETE
        async with app_conn.transaction():
            await app_conn.execute("UPDATE customers SET locale = 'en'")
            await app_conn.execute("DELETE FROM idempotency_keys")
    finally:
        await app_conn.close()

    # The owner (the migrations' role) is not a superuser either: the triggers hold for it.
    owner_conn = await cluster.connect(cluster.owner)
    try:
        assert "append-only" in await _refused(owner_conn, "DELETE FROM transactions")
        assert "append-only" in await _refused(owner_conn, "UPDATE audit_log SET id = id")
    finally:
        await owner_conn.close()


async def test_migrations_run_as_migrate_database_url(cluster: Cluster) -> None:
    """DATABASE_URL may be a role that cannot create tables: `migrate_database` uses
    MIGRATE_DATABASE_URL, and DATABASE_URL when that is empty."""
    await asyncio.to_thread(_run_script, cluster)
    app_only: dict[str, Any] = {"database_url": cluster.url(cluster.app)}
    with pytest.raises(DBAPIError, match="permission denied"):
        await migrate_database(make_settings(**app_only, migrate_database_url=""))
    await migrate_database(
        make_settings(**app_only, migrate_database_url=cluster.url(cluster.owner))
    )
    conn = await cluster.connect(cluster.app)
    try:
        assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 1
    finally:
        await conn.close()
