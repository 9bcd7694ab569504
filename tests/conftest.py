"""Test fixtures: real PostgreSQL and Redis.

The schema is built once per run by the Alembic migrations into a fresh database
(TEST_DATABASE_URL, default `provider_desk_test` on 127.0.0.1); every test starts from empty
tables (TRUNCATE) and an empty Redis database (TEST_REDIS_URL, default db 15)."""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app import create_app
from backend.config import Settings
from backend.migrate import upgrade
from backend.models import Base
from backend.state import Resources

# Quiet hours would hold non-urgent notices back depending on the hour the suite runs at; the
# tests about quiet hours set them explicitly. Subprocesses (python main.py ...) inherit this.
os.environ.setdefault("NOTIFY_QUIET_HOURS", "")

# Each pytest process gets its own database and Redis database, so parallel runs on one
# machine (several developers, CI beside a developer) never truncate each other's data.
TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL",
    f"postgresql+asyncpg://postgres@127.0.0.1:5432/provider_desk_test_{os.getpid()}",
)


def _claim_redis_db() -> str:
    if url := os.environ.get("TEST_REDIS_URL"):
        return url
    import redis

    registry = redis.Redis(host="127.0.0.1", port=6379, db=0)
    try:
        for n in range(1, 14):  # 14 and 15 are left to the benchmarks and manual use
            if registry.set(f"provider-desk:test-db:{n}", os.getpid(), nx=True, ex=3 * 3600):
                return f"redis://127.0.0.1:6379/{n}"
    finally:
        registry.close()
    raise RuntimeError("no free Redis database for the tests (1..13 are all claimed)")


TEST_REDIS_URL = _claim_redis_db()


# Nothing a test writes (SQLite files, documents) lands in the checkout's ./data.
_DATA_DIR = Path(tempfile.mkdtemp(prefix="provider-desk-tests-"))


def make_settings(**overrides: object) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "database_url": TEST_DATABASE_URL,
        "redis_url": TEST_REDIS_URL,
        "run_worker": False,
        "seed_demo": False,
        "db_pool_size": 20,
        "data_dir": _DATA_DIR,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


async def _recreate_database(url: str) -> None:
    parsed = make_url(url)
    admin = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )
    try:
        name = parsed.database
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


async def _drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    await _recreate_database(settings.database_url)
    res = Resources.create(settings)
    await upgrade(res.engine)
    yield res
    await res.redis.flushdb()
    await res.close()
    if "TEST_DATABASE_URL" not in os.environ:
        await _drop_database(settings.database_url)


def pytest_unconfigure(config: pytest.Config) -> None:
    if "TEST_REDIS_URL" in os.environ:
        return
    import redis

    registry = redis.Redis(host="127.0.0.1", port=6379, db=0)
    try:
        n = TEST_REDIS_URL.rsplit("/", 1)[1]
        if registry.get(f"provider-desk:test-db:{n}") == str(os.getpid()).encode():
            registry.delete(f"provider-desk:test-db:{n}")
    finally:
        registry.close()


_TABLES = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)


@pytest.fixture(autouse=True)
def _unfreeze_gc() -> Iterator[None]:
    """bot.runner.build() freezes the collector's view of the process (right for a long-lived
    bot); tests build many bots in one process, so what each test made is handed back."""
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
async def _clean_state(request: pytest.FixtureRequest) -> None:
    """Empty tables and Redis before every test that touches them."""
    if "resources" not in request.fixturenames:
        return
    res: Resources = request.getfixturevalue("resources")
    async with res.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    await res.redis.flushdb()
    # The revocation list mirrors Redis in memory, and user ids restart with the tables: a user
    # deactivated in one test must not deny the same id in the next.
    res.revocations.forget()


@pytest.fixture
async def session(resources: Resources) -> AsyncIterator[AsyncSession]:
    """A session for arranging and checking data; commit explicitly in the test."""
    async with resources.sessionmaker() as s:
        yield s


@pytest.fixture
def app(resources: Resources):
    return create_app(resources.settings, resources=resources, roles=[])


@pytest.fixture
async def client(app) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


Headers = dict[str, str]


@pytest.fixture
def as_customer(session: AsyncSession, settings: Settings):
    """Create (and commit) a customer with a sign-in; returns it and its auth headers."""
    from tests.factories import signed_in_customer

    async def factory(**overrides: Any):
        customer, headers = await signed_in_customer(session, settings, **overrides)
        await session.commit()
        return customer, headers

    return factory


@pytest.fixture
def as_staff(session: AsyncSession, settings: Settings):
    """Create (and commit) an agent or admin; `mfa=False` mints a token without 2FA."""
    from backend.models import Role
    from tests.factories import signed_in_user

    async def factory(role: Role = Role.agent, mfa: bool | None = None):
        user, headers = await signed_in_user(session, settings, role, mfa=mfa)
        await session.commit()
        return user, headers

    return factory
