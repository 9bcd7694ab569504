"""Engine and sessions. One unit of work per request, update or job: `unit_of_work()` commits
or rolls back; nothing else calls commit()."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from backend.config import Settings


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets the embedded default read while the worker writes; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    url = url or settings.effective_database_url
    kwargs: dict[str, Any] = {"echo": settings.db_echo}
    if url.startswith("sqlite"):
        db_path = url.split(":///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 10}
    else:
        # No pre-ping: with asyncpg it costs three round trips per checkout. A dropped
        # connection fails one request with 503 and invalidates the pool, which then reconnects.
        kwargs.update(pool_size=settings.db_pool_size, max_overflow=10, pool_recycle=1800)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_migration_engine(settings: Settings) -> AsyncEngine:
    """The engine migrations run on: the schema owner's MIGRATE_DATABASE_URL when it is set
    (the app itself may then run as a role that cannot alter tables, docs/security.md),
    otherwise DATABASE_URL."""
    return create_engine(settings, url=settings.migrate_database_url or None)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# name -> this event loop's lock, for `serial_unit_of_work` on SQLite
_serial_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def serial_unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], name: str
) -> AsyncIterator[AsyncSession]:
    """A unit of work that takes turns with the others of the same `name`, on SQLite (the
    embedded default, one process): pysqlite runs a transaction's first SELECTs outside it, so
    this process's writers of one kind hold a lock of the event loop until after the commit.
    On PostgreSQL it is a plain unit of work; the caller takes the database's own locks inside
    (row locks, an advisory lock) to order processes."""
    bind = sessionmaker.kw.get("bind")
    if bind is not None and bind.dialect.name == "postgresql":
        async with unit_of_work(sessionmaker) as session:
            yield session
        return
    locks = _serial_locks.setdefault(asyncio.get_running_loop(), {})
    async with locks.setdefault(name, asyncio.Lock()), unit_of_work(sessionmaker) as session:
        yield session


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """One attempt inside a unit of work, kept only when it completes. An exception raised in
    it (a refusal found under a lock, a provider failure, a unique constraint lost to a
    concurrent writer) undoes what the attempt wrote, and only that, then propagates: the
    caller answers it (a bot's refusal, a retry with the next number, a skipped document)
    while the rest of the unit of work (the turn's transcript, the run's other rows) still
    commits. It never commits: `unit_of_work()` does."""
    async with session.begin_nested():
        yield


def dialect_insert(bind: AsyncSession | str) -> Any:
    """The `insert()` of the session's dialect (or of a dialect name): `ON CONFLICT` clauses
    (`on_conflict_do_nothing`, `on_conflict_do_update`) exist only on the PostgreSQL and SQLite
    flavours, and the two backends are PostgreSQL and the embedded SQLite."""
    name = bind if isinstance(bind, str) else bind.get_bind().dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert
