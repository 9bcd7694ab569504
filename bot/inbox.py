"""The Telegram inbox's processing (docs/reliability.md, "Nothing is lost", rule 1): store,
claim under the chat's lock, feed the dispatcher, write the outcome.

Every update is stored (unique per bot and update_id, bot/inbox_repository.py) before it is
acknowledged - before the webhook answers 200, before polling advances its offset - and only
then processed, so a crash loses nothing and a redelivery is a no-op.

What runs under the chat's lock (bot/chat_locks.py), and why: one turn of a chat - claiming its
next row (with the sender's identity read in the same transaction, bot/lookups.py), feeding
it to the dispatcher, and writing its outcome in the transaction that claims the row after it
(`_drain_held`). Holding the lock is what runs a chat's updates one at a time in update_id
order, in one process. Storing needs no lock and happens first either way (`process_update`);
the retry sweep chooses chats to drain without a lock, and drains each under its lock.

Failures are retried by the running process (`maintain()`): a turn that failed because
PostgreSQL or Redis was away is put back with backoff and no attempt spent (never answered
with an error), any other failure is retried with backoff up to MAX_ATTEMPTS, and rows a dead
process had claimed are taken over. See docs/telegram.md, "Nothing lost, nothing twice"."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import utcnow
from backend.db import unit_of_work
from backend.logging import get_logger
from backend.state import Resources
from bot import lookups
from bot.chat_locks import KEEP_INTERVAL, LOCK_WAIT, ChatLocks, lock_key
from bot.inbox_repository import DONE as DONE
from bot.inbox_repository import MAX_ATTEMPTS as MAX_ATTEMPTS
from bot.inbox_repository import (
    Claimed,
    backoff,
    claim_pending,
    dead_letter,
    mark_deferred,
    mark_done,
    mark_failed,
    pending_keys,
    requeue_failed,
)
from bot.inbox_repository import chat_of as chat_of
from bot.inbox_repository import store as store
from bot.lookups import BLOCKED_BY_USER as BLOCKED_BY_USER

# The `name as name` imports above are explicit re-exports (mypy strict wants them so): names
# tests reach through bot.inbox that live in bot.inbox_repository and bot.lookups.

log = get_logger("bot.inbox")

SWEEP_INTERVAL = 2.0  # seconds between looks for rows to retry
SWEEP_BACKOFF_MAX = 5.0  # seconds between failing sweeps (PostgreSQL or Redis away)
STALE_AFTER = timedelta(seconds=3)  # a pending row nobody took for this long is retried
RECORD_PATIENCE = 300.0  # seconds an outcome waits for the database before it is given up
# successful_payment failures (money already taken) before an alert
PAYMENT_ALERT_AFTER = 3

PAYMENT_FAILURES = Counter(
    "telegram_successful_payment_failures_total",
    "successful_payment updates whose processing failed (retried)",
    ["reason"],
)
PAYMENT_ALERTS = Counter(
    "telegram_successful_payment_alerts_total",
    "successful_payment updates that keep failing (an alert: money taken, not yet credited)",
)


def register_metrics(registry: CollectorRegistry) -> None:
    """Serve the inbox's counters on an app's /metrics too (backend/app.py)."""
    for counter in (PAYMENT_FAILURES, PAYMENT_ALERTS):
        registry.register(counter)


def is_payment(update_json: dict[str, Any]) -> bool:
    message = update_json.get("message")
    return isinstance(message, dict) and "successful_payment" in message


_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # refused or reset connections (ConnectionError is one)
    TimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # the pool's: no connection to be had
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,  # "connection is closed", "another operation is in progress"
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) means PostgreSQL or Redis could not be reached, so
    the same work will succeed once they are back."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, _OUTAGE_TYPES):
            return True
        if isinstance(node, sa_exc.DBAPIError) and node.connection_invalidated:
            return True
        node = node.__cause__ or node.__context__
    return False


INBOX_KEY = "inbox"  # the dispatcher's workflow data holding its Inbox


@dataclass(eq=False)
class Inbox:
    """One bot's inbox in this process: its chat locks (and with them the process identity
    that claims rows), and the backoff of the rows it retries. Made once per Dispatcher
    (`inbox_of`)."""

    locks: ChatLocks
    retries: dict[int, int] = field(default_factory=dict)  # row id -> deferrals so far
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def owner(self) -> str:
        """Who claims rows (`telegram_updates.claimed_by`): the owner of the chat locks."""
        return self.locks.owner


def inbox_of(resources: Resources, dispatcher: Dispatcher) -> Inbox:
    found = dispatcher.workflow_data.get(INBOX_KEY)
    if not isinstance(found, Inbox):
        found = Inbox(ChatLocks(resources))
        dispatcher.workflow_data[INBOX_KEY] = found
    return found


# --- one turn, under the chat's lock -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Turn:
    """A claimed row and its sender's identity, read in the claim's transaction."""

    row: Claimed
    prefetched: lookups.Prefetched


async def _claim(
    session: AsyncSession,
    bot: Bot,
    inbox: Inbox,
    chat_id: int | None,
    update_id: int,
    max_attempts: int = MAX_ATTEMPTS,
) -> _Turn | None:
    row = await claim_pending(
        session, bot.id, chat_id=chat_id, update_id=update_id,
        max_attempts=max_attempts, owner=inbox.owner,
    )  # fmt: skip
    if row is None:
        return None
    return _Turn(row, await lookups.prefetch(session, row.payload))


@dataclass(frozen=True, slots=True)
class _Outcome:
    error: str | None = None  # None: done
    permanent: bool = False
    outage: bool = False  # PostgreSQL or Redis was away: retried, no attempt spent


async def _process(bot: Bot, dispatcher: Dispatcher, turn: _Turn) -> _Outcome:
    row = turn.row
    try:
        update_obj = Update.model_validate(row.payload, context={"bot": bot})
    except ValidationError as exc:
        log.error("malformed telegram update", update_id=row.update_id)
        return _Outcome(f"invalid update: {exc}", permanent=True)
    data: dict[str, Any] = {}
    turn.prefetched.put(data)
    try:
        await dispatcher.feed_update(bot, update_obj, **data)
    except Exception as exc:  # the row keeps the reason and is retried
        if is_outage(exc):
            log.warning(
                "telegram update deferred: database or redis unavailable",
                update_id=row.update_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            return _Outcome(f"{type(exc).__name__}: {exc}", outage=True)
        log.exception("telegram update failed", update_id=row.update_id, attempts=row.attempts)
        return _Outcome(f"{type(exc).__name__}: {exc}")
    return _Outcome()


def _note_payment_failure(inbox: Inbox, row: Claimed, outcome: _Outcome) -> None:
    """Money already taken and not credited yet: count every failure, alert when it repeats."""
    PAYMENT_FAILURES.labels(reason="outage" if outcome.outage else "error").inc()
    failures = row.attempts + inbox.retries.get(row.id, 0) - (1 if outcome.outage else 0)
    if failures >= PAYMENT_ALERT_AFTER:
        PAYMENT_ALERTS.inc()
        log.error(
            "successful_payment keeps failing",
            update_id=row.update_id,
            failures=failures,
            error=outcome.error,
        )


async def _record(session: AsyncSession, inbox: Inbox, row: Claimed, outcome: _Outcome) -> bool:
    if outcome.error is None:
        inbox.retries.pop(row.id, None)
        written = await mark_done(session, row)
    elif outcome.outage:
        retry = inbox.retries[row.id] = inbox.retries.get(row.id, 0) + 1
        written = await mark_deferred(session, row, outcome.error, utcnow() + backoff(retry))
    else:
        written = await mark_failed(session, row, outcome.error, permanent=outcome.permanent)
    if not written:
        log.warning("telegram update claimed by another process", update_id=row.update_id)
    return written


async def _record_and_claim_next(
    resources: Resources,
    bot: Bot,
    inbox: Inbox,
    row: Claimed,
    outcome: _Outcome,
    chat_id: int | None,
    update_id: int,
    max_attempts: int,
) -> _Turn | None:
    """Write the outcome and claim the chat's next row in one transaction. While PostgreSQL
    is away the outcome waits (with backoff) instead of being dropped: a turn whose replies
    were sent must not be run again."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECORD_PATIENCE
    tries = 0
    while True:
        try:
            async with unit_of_work(resources.sessionmaker) as session:
                await _record(session, inbox, row, outcome)
                if outcome.outage:
                    return None  # the chat waits for this row's retry
                return await _claim(session, bot, inbox, chat_id, update_id, max_attempts)
        except Exception as exc:
            if not is_outage(exc) or loop.time() >= deadline:
                raise
            tries += 1
            if outcome.outage:
                inbox.retries[row.id] = max(0, inbox.retries.get(row.id, 1) - 1)
            await asyncio.sleep(backoff(tries).total_seconds())


async def _drain_held(
    resources: Resources,
    bot: Bot,
    dispatcher: Dispatcher,
    chat_id: int | None,
    update_id: int,
    turn: _Turn | None,
    max_attempts: int,
) -> int:
    """With the chat's lock held: process `turn` (claimed already, or None to claim first) and
    the chat's next pending rows. Each outcome is written in the transaction that claims the
    next row: two statements, one round of BEGIN/COMMIT per update."""
    inbox = inbox_of(resources, dispatcher)
    if turn is None:
        async with unit_of_work(resources.sessionmaker) as session:
            turn = await _claim(session, bot, inbox, chat_id, update_id, max_attempts)
    processed = 0
    while turn is not None:
        outcome = await _process(bot, dispatcher, turn)
        processed += 1
        if outcome.error is not None:
            if is_payment(turn.row.payload):
                _note_payment_failure(inbox, turn.row, outcome)
            inbox.wake.set()  # the retry sweep comes back for it
        turn = await _record_and_claim_next(
            resources, bot, inbox, turn.row, outcome, chat_id, update_id, max_attempts
        )
    return processed


# --- taking the lock ---------------------------------------------------------------------------


async def drain(
    resources: Resources,
    bot: Bot,
    dispatcher: Dispatcher,
    chat_id: int | None,
    update_id: int,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    wait: float = LOCK_WAIT,
) -> int:
    """Under the chat's lock, process its pending rows in update_id order. Returns how many
    were processed. A lock not obtained in time (or Redis or PostgreSQL away) leaves the rows
    to their holder or to the retry sweep; nothing is lost."""
    inbox = inbox_of(resources, dispatcher)
    key = lock_key(bot.id, chat_id, update_id)
    try:
        if not await inbox.locks.acquire(key, wait):
            if wait > 0:
                log.info("telegram chat busy: left to its holder", chat_id=chat_id)
            return 0
        try:
            return await _drain_held(
                resources, bot, dispatcher, chat_id, update_id, None, max_attempts
            )
        finally:
            await inbox.locks.release(key)
    except Exception as exc:
        inbox.wake.set()
        if not is_outage(exc):
            raise
        log.warning(
            "telegram chat deferred: database or redis unavailable",
            chat_id=chat_id,
            error=f"{type(exc).__name__}: {exc}",
        )
        return 0


async def process_update(
    resources: Resources, bot: Bot, dispatcher: Dispatcher, update_json: dict[str, Any]
) -> bool:
    """Store, then process (this chat's pending rows, in order). Returns whether the update
    was new; a redelivered update_id changes nothing. Raises only if storing fails - then the
    caller must not acknowledge the update.

    The usual case - nobody else is working on the chat - takes the lock first and stores and
    claims in one transaction; otherwise the update is stored at once and waits for the lock.
    Either way it is stored before this returns."""
    chat_id, update_id = chat_of(update_json), int(update_json["update_id"])
    inbox = inbox_of(resources, dispatcher)
    key = lock_key(bot.id, chat_id, update_id)
    try:
        held = await inbox.locks.try_acquire(key)
    except RedisError:
        held = False  # store first regardless; the retry sweep processes it once Redis is back
    if not held:
        async with unit_of_work(resources.sessionmaker) as session:
            new = await store(session, bot.id, update_json)
        try:
            await drain(resources, bot, dispatcher, chat_id, update_id)
        except Exception:  # stored: the retry sweep processes it
            log.exception("telegram update stored, processing deferred", update_id=update_id)
        return new
    try:
        async with unit_of_work(resources.sessionmaker) as session:
            new = await store(session, bot.id, update_json)
            turn = await _claim(session, bot, inbox, chat_id, update_id)
        try:
            await _drain_held(resources, bot, dispatcher, chat_id, update_id, turn, MAX_ATTEMPTS)
        except Exception:  # stored: the retry sweep processes it
            inbox.wake.set()
            log.exception("telegram update stored, processing deferred", update_id=update_id)
    finally:
        await inbox.locks.release(key)
    return new


# --- retries: chosen without a lock, each chat drained under its own ---------------------------


async def _requeue(
    session: AsyncSession, bot_id: int, max_attempts: int, *, due_only: bool
) -> None:
    """Failed rows with attempts left back to pending; rows out of attempts dead-lettered, with
    an alert for a payment among them."""
    await requeue_failed(session, bot_id, max_attempts, due_only=due_only)
    for dead in await dead_letter(session, bot_id, max_attempts):
        if is_payment(dead.payload):
            # money was taken and is still not credited: someone must look
            PAYMENT_ALERTS.inc()
            log.error(
                "successful_payment dead-lettered", update_id=dead.update_id, error=dead.error
            )
        else:
            log.error("telegram update dead-lettered", update_id=dead.update_id, error=dead.error)


async def sweep(
    resources: Resources,
    bot: Bot,
    dispatcher: Dispatcher,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    stale_after: timedelta | None = STALE_AFTER,
    concurrency: int = 8,
) -> int:
    """One retry round: failed rows whose backoff is over go back to pending, and each chat
    with pending rows that are due (deferred, or older than `stale_after`: left by a dead
    process, a lost lock, an outage) is drained - unless a live process holds the chat.
    `stale_after=None`: every pending row (at start). Returns the number processed."""
    async with unit_of_work(resources.sessionmaker) as session:
        await _requeue(session, bot.id, max_attempts, due_only=stale_after is not None)
        stale_before = utcnow() - stale_after if stale_after is not None else None
        keys = await pending_keys(session, bot.id, max_attempts, stale_before=stale_before)
    slots = asyncio.Semaphore(concurrency)

    async def one(chat_id: int | None, first: int) -> int:
        async with slots:
            return await drain(
                resources, bot, dispatcher, chat_id, first, max_attempts=max_attempts, wait=0
            )

    done = await asyncio.gather(*(one(c, f) for c, f in keys), return_exceptions=True)
    for result in done:
        if isinstance(result, BaseException):
            log.error("telegram retry failed", error=f"{type(result).__name__}: {result}")
    return sum(r for r in done if isinstance(r, int))


async def recover(
    resources: Resources, bot: Bot, dispatcher: Dispatcher, *, max_attempts: int = MAX_ATTEMPTS
) -> int:
    """Process what a crash (or a failure) left behind; run at start. Chats a process that is
    still alive holds are left to it; a dead one's are taken over (or, while its liveness key
    lasts, by maintain() a few seconds later). Returns the number of rows processed."""
    processed = await sweep(resources, bot, dispatcher, max_attempts=max_attempts, stale_after=None)
    if processed:
        log.info("telegram inbox recovered", processed=processed)
    return processed


async def maintain(
    resources: Resources,
    bot: Bot,
    dispatcher: Dispatcher,
    stop: asyncio.Event,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    concurrency: int = 8,
) -> None:
    """The running process's side of "nothing lost": a sign of life and the held locks kept
    every KEEP_INTERVAL, and the retry sweep every SWEEP_INTERVAL (sooner after a failure).
    Survives PostgreSQL and Redis being away; runs until `stop` is set."""
    inbox = inbox_of(resources, dispatcher)
    loop = asyncio.get_running_loop()

    async def keeper() -> None:
        failing = False
        while not stop.is_set():
            try:
                await inbox.locks.keep()
                if failing:
                    log.info("telegram inbox keep resumed")
                failing = False
            except Exception as exc:  # Redis away: the next round tries again
                if not failing:
                    log.warning("telegram inbox keep failed", error=f"{type(exc).__name__}: {exc}")
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), KEEP_INTERVAL)

    keeping = asyncio.create_task(keeper())
    failures = 0
    next_sweep = loop.time() + SWEEP_INTERVAL
    try:
        while not stop.is_set():
            delay = max(0.0, next_sweep - loop.time())
            if failures:  # PostgreSQL or Redis away: look again soon, they may be back
                delay = min(SWEEP_BACKOFF_MAX, backoff(failures).total_seconds())
            waiter = asyncio.ensure_future(inbox.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=delay, return_when="FIRST_COMPLETED")
            for f in (waiter, stopper):
                f.cancel()
            if stop.is_set():
                break
            if inbox.wake.is_set():
                inbox.wake.clear()
                # a failure just happened: come back once the first backoff is over
                await asyncio.sleep(backoff(1).total_seconds())
            try:
                processed = await sweep(
                    resources, bot, dispatcher, max_attempts=max_attempts, concurrency=concurrency
                )
                failures = 0
                if processed:
                    log.info("telegram inbox retried", processed=processed)
            except Exception as exc:
                failures += 1
                log.warning("telegram retry sweep failed", error=f"{type(exc).__name__}: {exc}")
            next_sweep = loop.time() + SWEEP_INTERVAL
    finally:
        keeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeping
