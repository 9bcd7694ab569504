"""The notification worker as it runs in production, `python main.py worker` processes against
PostgreSQL, Redis and the Bot API stand-in (the real aiogram Bot of notifications/telegram.py):
one killed with SIGKILL in the middle of a batch and started again, and two running at once.
Either way every customer's chat gets its notice exactly once, counted on the stand-in's
records of what it answered."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.config import ROOT_DIR, Settings
from backend.db import unit_of_work
from backend.i18n import major, t
from backend.models import (
    Channel,
    ChannelIdentity,
    NotificationDelivery,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)
from backend.state import Resources
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.factories import make_customer
from tests.support.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.slow

FIRST_CHAT = 7_703_000
START_TIMEOUT = 60.0
DRAIN_TIMEOUT = 30.0
TEXT = t("billing-low-balance", "ru", balance=major(12000), currency="RUB", days=2)


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramStandIn]:
    standin = TelegramStandIn()
    await standin.start()
    try:
        yield standin
    finally:
        standin.release()  # nothing may stay parked past the test
        await standin.stop()


def _env(telegram: TelegramStandIn, data_dir: Path) -> dict[str, str]:
    """The process environment: nothing of the developer's or CI's settings leaks in."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        APP_ENV="test",
        DATABASE_URL=TEST_DATABASE_URL,
        REDIS_URL=TEST_REDIS_URL,
        DB_POOL_SIZE="5",
        DATA_DIR=str(data_dir),
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_BASE=telegram.base_url,
        RUN_BILLING_SCHEDULER="false",
        # the bot's pace is shared through Redis all the same; at Telegram's 30 a second the
        # 120 notices would only make the test slower
        TELEGRAM_GLOBAL_RATE="100",
        NOTIFY_QUIET_HOURS="",
        # JSON lines, with the worker's per-row "notification delivered" (a debug line): which
        # process delivered which row
        LOG_JSON="true",
        LOG_LEVEL="DEBUG",
    )
    return env


class Workers:
    """`python main.py worker` processes, each with its own log; all stopped at the end."""

    def __init__(self, telegram: TelegramStandIn, tmp_path: Path) -> None:
        self.telegram = telegram
        self.tmp_path = tmp_path
        self.procs: list[tuple[asyncio.subprocess.Process, Path]] = []
        self.started = 0

    async def start(self, *, wait: bool = True) -> tuple[asyncio.subprocess.Process, Path]:
        self.started += 1  # before any await: workers may start concurrently
        log = self.tmp_path / f"worker-{self.started}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "main.py", "worker", cwd=ROOT_DIR,
                env=_env(self.telegram, self.tmp_path / "data"),
                stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        self.procs.append((proc, log))
        if wait:
            await _until(lambda: _started(proc, log), "the worker started", START_TIMEOUT)
        return proc, log

    async def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def _started(proc: asyncio.subprocess.Process, log: Path) -> bool:
    text = await asyncio.to_thread(log.read_text, errors="replace")
    if proc.returncode is not None:
        raise AssertionError(f"the worker exited with {proc.returncode}\n{text[-3000:]}")
    return "notification worker started" in text


def _delivered_by(log: Path) -> list[int]:
    """The outbox ids this process marked delivered, from its JSON log lines."""
    ids: list[int] = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue  # a standard-library logger's line, not the worker's
        entry = json.loads(line)
        if entry.get("event") == "notification delivered":
            ids.append(int(entry["outbox_id"]))
    return ids


@pytest.fixture
async def workers(
    resources: Resources, telegram: TelegramStandIn, tmp_path: Path
) -> AsyncIterator[Workers]:
    made = Workers(telegram, tmp_path)
    try:
        yield made
    finally:
        await made.stop_all()


async def _until(check: Callable[[], Awaitable[bool]], what: str, within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not within {within}s: {what}"
        await asyncio.sleep(0.05)


async def _customers(session: AsyncSession, n: int) -> list[tuple[int, int]]:
    """n customers, each with a Telegram chat linked: (customer id, chat id)."""
    made: list[tuple[int, int]] = []
    for i in range(n):
        _, customer = await make_customer(session, with_user=False)
        chat = FIRST_CHAT + i
        session.add(
            ChannelIdentity(
                customer_id=customer.id, channel=Channel.telegram, external_id=str(chat)
            )
        )
        made.append((customer.id, chat))
    await session.commit()
    return made


async def _notices(resources: Resources, customers: list[tuple[int, int]]) -> None:
    """A low-balance notice for each, in one transaction (one NOTIFY wakes every worker)."""
    async with unit_of_work(resources.sessionmaker) as s:
        for customer_id, _ in customers:
            data = {"customer_id": customer_id, "balance": 12000, "days_left": 2}
            await outbox.enqueue(s, "billing.low_balance", data, f"low:{customer_id}")


async def _count_rows(resources: Resources, *where: Any, model: Any = OutboxMessage) -> int:
    async with resources.sessionmaker() as s:
        found = await s.scalar(select(func.count()).select_from(model).where(*where))
    return int(found or 0)


async def _sent_rows(resources: Resources) -> int:
    return await _count_rows(
        resources, NotificationDelivery.status == "sent", model=NotificationDelivery
    )


async def _all_done(resources: Resources, n: int) -> bool:
    return await _count_rows(resources, OutboxMessage.status == OutboxStatus.done) == n


def _answered_per_chat(telegram: TelegramStandIn) -> Counter[int]:
    """What the stand-in answered with 200, per chat (parked calls of a killed client never
    get here: TelegramStandIn.release)."""
    return Counter(
        int(c.params["chat_id"]) for c in telegram.calls("sendMessage") if c.status == 200
    )


async def _drain(resources: Resources, n: int, logs: list[Path]) -> None:
    async def done() -> bool:
        return await _all_done(resources, n)

    try:
        await _until(done, f"all {n} notices delivered", DRAIN_TIMEOUT)
    except AssertionError as exc:
        tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs)
        raise AssertionError(f"{exc}\n{tails}") from None


CUSTOMERS_KILLED = 60
ANSWERED_BEFORE_KILL = 12


async def test_a_worker_killed_mid_batch_and_restarted_sends_each_notice_once(
    resources: Resources,
    session: AsyncSession,
    telegram: TelegramStandIn,
    workers: Workers,
) -> None:
    customers = await _customers(session, CUSTOMERS_KILLED)
    await _notices(resources, customers)
    # Telegram answers the first K sends, then answers nothing: the worker's next sends (up to
    # its concurrency) wait for an answer while the rest of the claimed batch waits its turn
    telegram.hold_after(ANSWERED_BEFORE_KILL)

    first, first_log = await workers.start(wait=False)

    async def k_marked_and_more_in_flight() -> bool:
        return await _sent_rows(resources) == ANSWERED_BEFORE_KILL and telegram.parked() > 0

    await _until(k_marked_and_more_in_flight, "K sends marked, more in flight", START_TIMEOUT)
    first.send_signal(signal.SIGKILL)
    await first.wait()

    async def connections_closed() -> bool:
        return telegram.parked_alive() == 0

    await _until(connections_closed, "the stand-in saw the killed worker's connections close", 5)
    in_flight = telegram.parked()
    assert in_flight > 0
    telegram.release()

    async def dropped() -> bool:
        return telegram.abandoned == in_flight

    # what was in flight never reached "Telegram", and the dead process cannot mark it
    await _until(dropped, "the parked sends of the killed worker dropped", 5)
    assert sum(_answered_per_chat(telegram).values()) == ANSWERED_BEFORE_KILL
    assert await _sent_rows(resources) == ANSWERED_BEFORE_KILL
    assert await _count_rows(resources, OutboxMessage.status == OutboxStatus.processing) > 0

    # The killed worker's rows stay claimed until their lease (WorkerOptions.lease_seconds,
    # 60 s) runs out; then any worker takes them again. The test ends the lease as the clock
    # would, rather than waiting a minute.
    async with unit_of_work(resources.sessionmaker) as s:
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.processing)
            .values(locked_until=utcnow())
        )
    _, second_log = await workers.start()
    await _drain(resources, CUSTOMERS_KILLED, [first_log, second_log])

    # Exactly once per chat here, though delivery is at-least-once in general. A send is
    # marked in notification_deliveries (status sent) right after Telegram answers it, and a
    # worker that claims the row again skips the addresses marked sent; the sends that were
    # only in flight (status sending) are sent again. The window for a duplicate is a kill
    # after Telegram answered a send and before its mark committed: that message would go out
    # twice. This test kills only once the K answered sends are marked, and Telegram answers
    # nothing more before the kill, so no send is in that window. (docs/notifications.md,
    # "One delivery path".)
    per_chat = _answered_per_chat(telegram)
    assert per_chat == {chat: 1 for _, chat in customers}, per_chat
    assert telegram.sent_per_chat == per_chat
    assert {str(c.params["text"]) for c in telegram.calls("sendMessage")} == {TEXT}
    assert await _sent_rows(resources) == CUSTOMERS_KILLED
    assert len(_delivered_by(second_log)) == CUSTOMERS_KILLED  # it marked every row done


CUSTOMERS_TWO_WORKERS = 120


async def test_two_workers_at_once_send_each_notice_once(
    resources: Resources,
    session: AsyncSession,
    telegram: TelegramStandIn,
    workers: Workers,
) -> None:
    customers = await _customers(session, CUSTOMERS_TWO_WORKERS)
    (_, log_a), (_, log_b) = await asyncio.gather(workers.start(), workers.start())

    # both are listening: the one transaction's NOTIFY wakes both, and they claim at once
    await _notices(resources, customers)
    await _drain(resources, CUSTOMERS_TWO_WORKERS, [log_a, log_b])

    per_chat = _answered_per_chat(telegram)
    assert per_chat == {chat: 1 for _, chat in customers}, per_chat
    assert telegram.sent_per_chat == per_chat
    by_a, by_b = _delivered_by(log_a), _delivered_by(log_b)
    assert by_a and by_b, "both workers should have taken part"
    assert not set(by_a) & set(by_b)
    assert len(by_a) + len(by_b) == CUSTOMERS_TWO_WORKERS
    # no row was claimed twice: no lease ran out, no worker took another's row
    assert await _count_rows(resources, OutboxMessage.attempts != 1) == 0
    assert await _sent_rows(resources) == CUSTOMERS_TWO_WORKERS
