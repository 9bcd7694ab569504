"""Wake-ups for the outbox worker: on PostgreSQL every INSERT into the outbox notifies the
channel "outbox" (a statement trigger, migration c9a100000011, so a broadcast's bulk insert is one
notification), and the worker LISTENs on a connection of its own instead of waiting out its poll
interval. Polling stays as the fallback: a notification lost while the listener reconnects
delays a message by one poll interval at most. SQLite (the embedded default) has no
notifications; the worker polls."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from backend.logging import get_logger

log = get_logger("notifications.wakeup")

CHANNEL = "outbox"


class OutboxListener:
    """`wait(stop, seconds)` returns when a row was inserted, `stop` is set or `seconds`
    passed, whichever comes first."""

    def __init__(self, url: URL) -> None:
        """`url`: the engine's (the embedded default builds its SQLite URL from DATA_DIR)."""
        self.enabled = url.get_backend_name() == "postgresql"
        self.url = url
        self.event = asyncio.Event()
        self.connection: asyncpg.Connection | None = None
        self.task: asyncio.Task[None] | None = None

    def _wake(self, *_: Any) -> None:
        self.event.set()

    async def _connect(self) -> None:
        url = self.url
        self.connection = await asyncpg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
            timeout=5,
        )
        await self.connection.add_listener(CHANNEL, self._wake)

    async def _keep(self, stop: asyncio.Event) -> None:
        """Hold the listening connection open; reconnect with backoff when it drops."""
        delay = 1.0
        while not stop.is_set():
            try:
                if self.connection is None or self.connection.is_closed():
                    await self._connect()
                    delay = 1.0
                    self.event.set()  # anything inserted while away is due now
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.info("outbox listener unavailable; polling", error=type(exc).__name__)
                self.connection = None
                delay = min(delay * 2, 30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay if self.connection is None else 5.0)

    def start(self, stop: asyncio.Event) -> None:
        if self.enabled and self.task is None:
            self.task = asyncio.create_task(self._keep(stop), name="outbox-listener")

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.event.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self.event.clear()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        if self.connection is not None and not self.connection.is_closed():
            with contextlib.suppress(Exception):
                await self.connection.close(timeout=2)
        self.connection = None
