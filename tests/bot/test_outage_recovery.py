"""The running bot survives PostgreSQL and Redis outages (cut through the tests' TCP proxy, not
by stopping the shared servers): what failed meanwhile is retried with backoff once they are
back, every chat is answered exactly once, and a turn that failed only because the database or
Redis was away is retried, never answered with an error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from backend.i18n import t
from backend.models import TelegramUpdate
from backend.state import Resources
from tests.bot.harness import BotRuntime, wait_until
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, make_settings
from tests.support.tcp_proxy import TcpProxy
from tests.support.telegram_standin import TelegramStandIn

CHATS = 40
FIRST_CHAT = 8100
OUTAGE = 3.0  # seconds the database or Redis stays away


@dataclass
class Proxied:
    resources: Resources
    db: TcpProxy
    redis: TcpProxy


@pytest.fixture
async def proxied(resources: Resources) -> AsyncIterator[Proxied]:
    """Resources of a bot process whose PostgreSQL and Redis connections go through proxies."""
    db_url = make_url(TEST_DATABASE_URL)
    redis_url = make_url(TEST_REDIS_URL.replace("redis://", "postgresql://"))  # just to parse
    db = TcpProxy(db_url.host or "127.0.0.1", db_url.port or 5432)
    redis = TcpProxy(redis_url.host or "127.0.0.1", redis_url.port or 6379)
    await db.start()
    await redis.start()
    settings = make_settings(
        database_url=db_url.set(port=db.port).render_as_string(hide_password=False),
        redis_url=f"redis://127.0.0.1:{redis.port}/{redis_url.database or 0}",
        db_pool_size=5,
    )
    res = Resources.create(settings)
    try:
        yield Proxied(res, db, redis)
    finally:
        await db.cut()
        await redis.cut()
        await res.close()


async def _all_done(resources: Resources, count: int) -> bool:
    async with resources.sessionmaker() as s:
        done = await s.scalar(
            select(func.count()).select_from(TelegramUpdate).where(TelegramUpdate.status == "done")
        )
    return done == count


async def _burst_through_outage(
    tg: BotRuntime, telegram: TelegramStandIn, resources: Resources, proxy: TcpProxy,
    *, flush_redis: bool = False,
) -> None:  # fmt: skip
    """A baseline turn, then a burst to CHATS chats with `proxy` cut while it is processed;
    every chat must get exactly the baseline's answer, no error reply, from the running bot."""
    baseline = [c.params.get("text") for c in await tg.say(FIRST_CHAT - 1, "привет")]
    assert baseline
    mark = tg.mark()
    for n in range(CHATS):
        telegram.queue_update(telegram.message(FIRST_CHAT + n, "привет"))
    # cut once the burst is under way
    await telegram.wait_for(
        "sendMessage", count=3, timeout=30,
        where=lambda c: isinstance(c.params.get("chat_id"), int)
        and c.params["chat_id"] >= FIRST_CHAT,
    )  # fmt: skip
    await proxy.cut()
    await asyncio.sleep(OUTAGE)  # the outage itself, not a wait for a result
    if flush_redis:
        await resources.redis.flushdb()  # Redis comes back empty
    await proxy.restore()
    await wait_until(lambda: _all_done(resources, CHATS + 1), "every update processed", timeout=60)
    error = t("dialogs-error", "ru")
    for n in range(CHATS):
        texts = [c.params.get("text") for c in tg.calls_since(mark, FIRST_CHAT + n)]
        assert error not in texts, f"chat {FIRST_CHAT + n} got an error reply"
        assert texts == baseline, f"chat {FIRST_CHAT + n}: {texts}"


async def test_database_cut_mid_burst_every_chat_answered_once(
    proxied: Proxied, telegram: TelegramStandIn, resources: Resources
) -> None:
    tg = BotRuntime("polling", proxied.resources, telegram)
    await tg.start()
    try:
        await _burst_through_outage(tg, telegram, resources, proxied.db)
    finally:
        await tg.stop()


async def test_redis_cut_and_flushed_mid_burst_every_chat_answered_once(
    proxied: Proxied, telegram: TelegramStandIn, resources: Resources
) -> None:
    tg = BotRuntime("polling", proxied.resources, telegram)
    await tg.start()
    try:
        await _burst_through_outage(tg, telegram, resources, proxied.redis, flush_redis=True)
    finally:
        await tg.stop()
