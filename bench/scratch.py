"""The benchmarks' scratch PostgreSQL database: dropped and created afresh for a run, dropped
after it."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url


async def _admin(url_text: str) -> tuple[asyncpg.Connection, str | None]:
    url = make_url(url_text)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username or "postgres", database="postgres"
    )
    return conn, url.database


async def recreate_database(url_text: str) -> None:
    """Drop the database of `url_text` (closing its connections) and create it empty."""
    admin, name = await _admin(url_text)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def drop_database(url_text: str) -> None:
    admin, name = await _admin(url_text)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
