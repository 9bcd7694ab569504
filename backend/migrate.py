"""Run Alembic migrations programmatically (used by main.py and the tests)."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import ROOT_DIR, Settings
from backend.db import create_migration_engine


def alembic_config() -> Config:
    cfg = Config(str(ROOT_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT_DIR / "migrations"))
    cfg.attributes["configure_logging"] = False
    return cfg


async def run_migrations(engine: AsyncEngine, run: Callable[[Connection], None]) -> None:
    """Run `run` (Alembic's work) on one connection of `engine` and commit (also what the
    plain `alembic` command does, migrations/env.py)."""
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a table by recreating it (Alembic's batch mode). With foreign keys
            # enforced, dropping the old parent table deletes its children's rows (CASCADE) or
            # clears their references (SET NULL), so enforcement is off meanwhile and checked
            # as a whole at the end. The pragma is a no-op inside a transaction: it comes first.
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            await conn.run_sync(run)
            if sqlite:
                broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"migrations left broken foreign keys: {broken[:10]}")
            await conn.commit()
        finally:
            if sqlite:
                await conn.rollback()
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    cfg = alembic_config()

    def _run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    await run_migrations(engine, _run)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    cfg = alembic_config()

    def _run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    await run_migrations(engine, _run)


async def migrate_database(settings: Settings, revision: str = "head") -> None:
    """`python main.py migrate`: apply the migrations as the schema's owner
    (MIGRATE_DATABASE_URL, or DATABASE_URL when that is empty)."""
    engine = create_migration_engine(settings)
    try:
        await upgrade(engine, revision)
    finally:
        await engine.dispose()
