"""Polling mode. aiogram's own `start_polling` advances the offset before handlers finish
(at-most-once), so the loop here is ours: getUpdates -> store the whole batch in the inbox ->
only then advance the offset (the next getUpdates acknowledges) -> process each chat's rows
in the background, in update_id order (bot.inbox). A crash anywhere after the store loses
nothing: recover() at the next start processes what is pending, and while the process runs
inbox.maintain() retries what failed (PostgreSQL or Redis away) once they are back.

Agents' replies and notifications are not sent from here: the notification worker delivers
them through notifications.telegram, paced together with this process's replies
(bot/pacing.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates

from backend.config import Settings
from backend.db import unit_of_work
from backend.logging import get_logger
from backend.state import Resources
from bot import commands, inbox, inbox_repository, lookups
from bot.engine import BotEngine
from bot.factory import create_bot, create_dispatcher

log = get_logger("bot.runner")

POLL_TIMEOUT = 25  # seconds of Telegram long polling
BATCH_LIMIT = 100


# Chats processed at once: one database connection each at most, so no more than the pool
# holds - past it, turns queue for connections and overflow connections are opened and closed
# over and over (measured by bench/bot.py).
def max_concurrent_chats(settings: Settings) -> int:
    return max(1, min(64, settings.db_pool_size))


ERROR_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
STORE_BACKOFF_MAX = 5.0  # seconds between tries to store a batch while PostgreSQL is away
STOP_GRACE = 20.0  # seconds in-flight turns get to finish on stop


def serialize(update: Any) -> dict[str, Any]:
    """The update as Telegram sent it (aliases like "from", dates as unix seconds)."""
    data: dict[str, Any] = update.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


class Poller:
    def __init__(
        self,
        resources: Resources,
        bot: Bot,
        dispatcher: Dispatcher,
        *,
        poll_timeout: int = POLL_TIMEOUT,
    ) -> None:
        self.resources = resources
        self.bot = bot
        self.dispatcher = dispatcher
        self.poll_timeout = poll_timeout
        self.offset: int | None = None
        self.stop_event = asyncio.Event()
        self._tasks: set[asyncio.Task[int]] = set()
        self._slots = asyncio.Semaphore(max_concurrent_chats(resources.settings))

    def stop(self) -> None:
        self.stop_event.set()

    async def _get_updates(self) -> list[Any] | None:
        """One long poll, or None when stop was requested meanwhile."""
        request = asyncio.ensure_future(
            self.bot(
                GetUpdates(
                    offset=self.offset,
                    limit=BATCH_LIMIT,
                    timeout=self.poll_timeout,
                    allowed_updates=self.dispatcher.resolve_used_update_types(),
                ),
                request_timeout=self.poll_timeout + 10,
            )
        )
        stopping = asyncio.ensure_future(self.stop_event.wait())
        done, _ = await asyncio.wait({request, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if request not in done:
            # nothing was stored from this poll and the offset did not move: nothing is lost
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await request
            return None
        stopping.cancel()
        return list(request.result())

    async def poll_once(self) -> int:
        """One getUpdates round: store, acknowledge, dispatch. Returns the number of updates."""
        updates = await self._get_updates()
        if not updates:
            return 0
        raws = [serialize(u) for u in updates]
        async with unit_of_work(self.resources.sessionmaker) as session:
            for raw in raws:
                await inbox_repository.store(session, self.bot.id, raw)
        # stored and committed: now the offset may move past them
        self.offset = max(int(r["update_id"]) for r in raws) + 1
        firsts: dict[tuple[int | None, int], int] = {}
        for raw in raws:
            chat = inbox_repository.chat_of(raw)
            key = (chat, 0) if chat is not None else (None, int(raw["update_id"]))
            firsts.setdefault(key, int(raw["update_id"]))
        for (chat, _), first in firsts.items():
            self._spawn(chat, first)
        return len(raws)

    def _spawn(self, chat_id: int | None, update_id: int) -> None:
        async def run() -> int:
            async with self._slots:
                try:
                    return await inbox.drain(
                        self.resources, self.bot, self.dispatcher, chat_id, update_id
                    )
                except Exception:  # stored: the retry sweep (inbox.maintain) processes it
                    log.exception("telegram chat deferred", chat_id=chat_id)
                    return 0

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for the background turns started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def run(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            try:
                await self.poll_once()
                failures = 0
            except TelegramRetryAfter as exc:
                await self._pause(float(exc.retry_after))
            except (TelegramNetworkError, TelegramServerError, OSError) as exc:
                delay = ERROR_BACKOFF[min(failures, len(ERROR_BACKOFF) - 1)]
                failures += 1
                log.warning("telegram polling failed", error=type(exc).__name__, retry_in=delay)
                await self._pause(delay)
            except Exception as exc:
                # Storing the batch failed (PostgreSQL away): the offset did not move, so
                # Telegram gives the same updates again once storing works.
                if not inbox.is_outage(exc):
                    log.exception("telegram polling round failed")
                # short: Telegram's own backoff is not needed, the database is back any moment
                delay = min(STORE_BACKOFF_MAX, ERROR_BACKOFF[min(failures, len(ERROR_BACKOFF) - 1)])
                failures += 1
                log.warning("telegram updates not stored", error=type(exc).__name__,
                            retry_in=delay)  # fmt: skip
                await self._pause(delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), STOP_GRACE)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), seconds)


async def build(
    settings: Settings, resources: Resources, session: BaseSession | None = None
) -> tuple[Bot, Dispatcher]:
    """The bot and dispatcher over the real NLU."""
    from dialogs.nlu.rasa_backend import RasaNLUBackend
    from dialogs.nlu.service import NLUService

    nlu = NLUService(rasa=RasaNLUBackend(settings.rasa_url) if settings.rasa_url else None)
    await asyncio.to_thread(nlu.warm_up)
    async with unit_of_work(resources.sessionmaker) as db:
        nlu.set_tariff_names(await lookups.active_tariff_names(db))
    # paced through Redis with every other sender of this bot (notifications, agent replies)
    bot = create_bot(settings, session, redis=resources.redis)
    dispatcher = create_dispatcher(resources, BotEngine(resources, nlu))
    # What is alive now (the NLU's model, the app, the libraries) lives as long as the process:
    # moved out of the collector's sight, full collections stop walking ~300 MB on every turn.
    gc.collect()
    gc.freeze()
    return bot, dispatcher


async def run_polling(
    settings: Settings,
    *,
    resources: Resources | None = None,
    session: BaseSession | None = None,
    handle_signals: bool = True,
    poller_ready: asyncio.Future[Poller] | None = None,
) -> None:
    """Serve Telegram by long polling until SIGTERM/SIGINT (or `Poller.stop()`). Pass the
    process's `resources` to share them (embedded mode); otherwise they are made and closed
    here."""
    own = resources is None
    res = resources or Resources.create(settings)
    bot, dp = await build(settings, res, session)
    poller = Poller(res, bot, dp)
    keeper: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, poller.stop)
    try:
        await dp.emit_startup(bot=bot)
        # getUpdates answers 409 while a webhook is set; pending updates are kept
        await bot.delete_webhook(drop_pending_updates=False)
        await set_commands_safely(bot)
        # this process's sign of life before its first lock; then what a crash left
        await inbox.inbox_of(res, dp).locks.sign_of_life(force=True)
        await inbox.recover(res, bot, dp)
        # failed and left-behind rows are retried while the process runs
        keeper = asyncio.create_task(
            inbox.maintain(
                res, bot, dp, poller.stop_event, concurrency=max_concurrent_chats(settings)
            )
        )
        if poller_ready is not None:
            poller_ready.set_result(poller)
        log.info("telegram polling started", bot_id=bot.id)
        await poller.run()
    finally:
        if keeper is not None:
            poller.stop()
            await keeper
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        await dp.emit_shutdown(bot=bot)
        await bot.session.close()
        if own:
            await res.close()
        log.info("telegram polling stopped")


async def set_commands_safely(bot: Bot) -> None:
    try:
        await commands.set_commands(bot)
    except TelegramAPIError as exc:  # the menu of commands is a nicety; never block start-up
        log.warning("setMyCommands failed", error=str(exc))


async def run_bot_role(resources: Resources, stop: asyncio.Event) -> None:
    """Background role of the all-in-one process (`python main.py` with TELEGRAM_BOT_TOKEN):
    polling on the process's own resources until the app stops."""
    ready: asyncio.Future[Poller] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_polling(
            resources.settings, resources=resources, handle_signals=False, poller_ready=ready
        )
    )
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:  # polling ended on its own (e.g. a bad token): report it, keep the app up
        stopper.cancel()
        if task.exception() is not None:
            log.error("telegram polling failed", error=str(task.exception()))
        return
    if ready.done():
        ready.result().stop()
    else:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
