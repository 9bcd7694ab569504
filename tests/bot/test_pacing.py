"""Pacing shared through Redis (bot.pacing): two Pacer instances (two "processes") on the test
Redis hold one bot-wide bucket, one bucket per chat and one pause; the real aiogram Bot with
the pacing middleware against the Bot API stand-in enforcing Telegram's limits; and the
in-process fallback while Redis is unreachable. Timings are asserted loosely: behaviour, not
a benchmark."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from pydantic import SecretStr
from structlog.testing import capture_logs

from backend.config import Settings
from backend.state import Resources
from bot.factory import create_bot
from bot.pacing import REDIS_TIMEOUT, Pacer, Rates, _LocalBuckets, pacing_of
from tests.support.net import free_port
from tests.support.telegram_standin import TelegramStandIn

CHAT, OTHER = 7401, 7402


def _pacer(resources: Resources, rates: Rates, prefix: str = "test:pace:") -> Pacer:
    return Pacer(resources.redis, rates, prefix=prefix)


def _bot_settings(resources: Resources, telegram: TelegramStandIn, **extra: object) -> Settings:
    return resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(telegram.token),
            "telegram_api_base": telegram.base_url,
            **extra,
        }
    )


@pytest.fixture
async def two_bots(
    resources: Resources, telegram: TelegramStandIn
) -> AsyncIterator[tuple[Bot, Bot]]:
    """Two Bots as two processes build them (each its own Pacer) on one Redis; a 429 is raised
    at once, as the notification channel's Bot does."""
    settings = _bot_settings(resources, telegram, telegram_chat_rate=5.0)
    bots = [create_bot(settings, redis=resources.redis, max_retries=0) for _ in range(2)]
    try:
        yield bots[0], bots[1]
    finally:
        for bot in bots:
            await bot.session.close()


def test_local_buckets_let_a_chat_burst_through_then_one_per_interval() -> None:
    buckets = _LocalBuckets(Rates.of(global_rate=1000, chat_rate=1.0, chat_burst=3))
    assert [buckets.reserve(CHAT, 100.0) for _ in range(3)] == [(0.0, True)] * 3
    # the fourth waits a second for the chat and reserves nothing meanwhile: no bot-wide slot
    # is held for it, so another chat goes at once
    assert buckets.reserve(CHAT, 100.0) == (1.0, False)
    assert buckets.reserve(OTHER, 100.0) == (0.0, True)
    assert buckets.reserve(CHAT, 101.0) == (0.0, True)
    assert buckets.reserve(CHAT, 101.0) == (1.0, False)
    # after a quiet spell the burst is there again
    assert [buckets.reserve(CHAT, 120.0)[0] for _ in range(3)] == [0.0, 0.0, 0.0]


def test_the_bot_wide_bucket_queues_ready_messages() -> None:
    buckets = _LocalBuckets(Rates.of(global_rate=10, chat_rate=1.0, chat_burst=3))
    # a burst of 2 (a fifth of a second's worth), then one every 0.1 s, each reserved
    waits = [buckets.reserve(n, 100.0) for n in range(5)]
    assert [(round(w, 3), r) for w, r in waits] == [
        (0.0, True), (0.0, True), (0.1, True), (0.2, True), (0.3, True),
    ]  # fmt: skip


def test_a_pause_holds_every_chat() -> None:
    buckets = _LocalBuckets(Rates.of(global_rate=1000, chat_rate=1.0, chat_burst=3))
    buckets.pause(2.0, 100.0)
    assert buckets.reserve(CHAT, 100.0) == (2.0, False)
    assert buckets.reserve(None, 101.5) == (0.5, False)
    assert buckets.reserve(CHAT, 102.0) == (0.0, True)


def test_the_global_burst_is_a_fifth_of_a_second() -> None:
    rates = Rates.of(global_rate=25, chat_rate=1, chat_burst=3)
    assert (rates.global_burst, rates.global_interval) == (5, 0.04)
    assert Rates.of(global_rate=0.5, chat_rate=1, chat_burst=3).global_burst == 1


def test_which_methods_are_paced() -> None:
    from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetUpdates, SendMessage

    assert pacing_of(SendMessage(chat_id=CHAT, text="x")) == (True, CHAT)
    assert pacing_of(EditMessageText(chat_id=CHAT, message_id=1, text="x")) == (True, None)
    assert pacing_of(AnswerCallbackQuery(callback_query_id="1")) == (False, None)
    assert pacing_of(GetUpdates()) == (False, None)


async def test_a_chat_gets_its_burst_then_its_rate_across_two_processes(
    resources: Resources,
) -> None:
    rates = Rates.of(global_rate=1000, chat_rate=5.0, chat_burst=3)
    first, second = _pacer(resources, rates), _pacer(resources, rates)
    started = time.monotonic()
    offsets = []
    for n in range(6):
        await (first if n % 2 else second).acquire(CHAT)
        offsets.append(time.monotonic() - started)
    # three at once, then one every 0.2 s whichever instance asks
    assert offsets[2] < 0.1, offsets
    for n, expected in ((3, 0.2), (4, 0.4), (5, 0.6)):
        assert expected - 0.03 <= offsets[n] <= expected + 0.15, offsets
    # the other chat is not held by this one
    before = time.monotonic()
    await first.acquire(OTHER)
    assert time.monotonic() - before < 0.1


async def test_the_bot_wide_rate_holds_across_two_processes(resources: Resources) -> None:
    rates = Rates.of(global_rate=25, chat_rate=1.0, chat_burst=3)
    pacers = [_pacer(resources, rates), _pacer(resources, rates)]
    started = time.monotonic()
    done: list[float] = []

    async def send(n: int) -> None:
        await pacers[n % 2].acquire(10_000 + n)  # every message to its own chat
        done.append(time.monotonic() - started)

    await asyncio.gather(*(send(n) for n in range(30)))
    elapsed = max(done)
    # a burst of 5, then 25 more at 25 a second: about one second
    assert 0.9 <= elapsed <= 1.4, elapsed
    # no window holds more than the rate's share and the burst (5): a second at most 30, a
    # fifth of a second at most 10 (one more for timing noise)
    done.sort()
    assert all(sum(1 for t in done if a <= t < a + 1.0) <= 30 for a in done), done
    assert all(sum(1 for t in done if a <= t < a + 0.2) <= 11 for a in done), done


async def test_two_bots_keep_under_telegrams_limits_together(
    two_bots: tuple[Bot, Bot], telegram: TelegramStandIn
) -> None:
    telegram.enforce_limits(global_per_second=30, per_chat_per_second=5, per_chat_burst=3)
    first, second = two_bots
    started = time.monotonic()
    sends = [(first if n % 2 else second).send_message(CHAT, f"chat {n}") for n in range(8)]
    sends += [(first if n % 2 else second).send_message(20_000 + n, "spread") for n in range(30)]
    await asyncio.gather(*sends)
    elapsed = time.monotonic() - started

    assert telegram.too_many == 0
    assert telegram.sent_per_chat[CHAT] == 8
    assert sum(telegram.sent_per_chat.values()) == 38
    # 38 messages at 25 a second (a burst of 5): about 1.3 s
    assert 1.1 <= elapsed <= 2.5, elapsed
    # each bot's messages to the chat arrived in the order it was asked for them
    texts = telegram.sent_texts(CHAT)
    assert sorted(texts) == sorted(f"chat {n}" for n in range(8))
    for parity in (0, 1):
        mine = [x for x in texts if int(x.split()[1]) % 2 == parity]
        assert mine == [f"chat {n}" for n in range(parity, 8, 2)]


async def test_the_standin_refuses_what_a_bot_without_pacing_floods(
    bot: Bot, telegram: TelegramStandIn
) -> None:
    """The stand-in's enforcement can fail a test: an unpaced Bot gets 429s."""
    telegram.enforce_limits(global_per_second=30, per_chat_per_second=1, per_chat_burst=3)
    results = await asyncio.gather(
        *(bot.send_message(CHAT, str(n)) for n in range(5)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, TelegramRetryAfter)]
    assert len(refused) == 2 and telegram.too_many == 2
    assert all(r.retry_after >= 1 for r in refused)
    assert telegram.sent_per_chat[CHAT] == 3


async def test_a_429_pauses_every_sender_for_its_retry_after(
    two_bots: tuple[Bot, Bot], telegram: TelegramStandIn
) -> None:
    first, second = two_bots
    telegram.fail_next("sendMessage", status=429, retry_after=1)

    with pytest.raises(TelegramRetryAfter):
        await first.send_message(CHAT, "refused")
    limited_at = time.monotonic()
    # the other process, another chat: it waits the pause out too
    await second.send_message(OTHER, "after the pause")
    assert time.monotonic() - limited_at >= 0.9
    assert [c.status for c in telegram.calls("sendMessage")] == [429, 200]
    assert telegram.sent_texts(OTHER) == ["after the pause"]


async def test_a_pause_set_while_a_sender_waits_for_its_slot_holds_it_too(
    resources: Resources,
) -> None:
    rates = Rates.of(global_rate=1000, chat_rate=5.0, chat_burst=1)
    first, second = _pacer(resources, rates), _pacer(resources, rates)
    await first.acquire(CHAT)  # the next slot of the chat is 0.2 s away
    started = time.monotonic()
    waiting = asyncio.create_task(first.acquire(CHAT))
    await asyncio.sleep(0.05)
    await second.pause(0.6)  # a 429 elsewhere while it sleeps
    await waiting
    assert time.monotonic() - started >= 0.6


async def test_without_redis_each_process_paces_alone_and_says_so_once(
    telegram: TelegramStandIn,
) -> None:
    gone = aioredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2, decode_responses=True
    )
    pacer = Pacer(gone, Rates.of(global_rate=1000, chat_rate=5.0, chat_burst=3), prefix="x:")
    try:
        with capture_logs() as logs:
            started = time.monotonic()
            for _ in range(5):
                await pacer.acquire(CHAT)
            elapsed = time.monotonic() - started
            await pacer.pause(0.01)
    finally:
        await gone.aclose()
    # Redis was tried once (at most REDIS_TIMEOUT), not before every message; then three at
    # once and 0.2 s each: the local buckets paced it
    assert 0.35 <= elapsed <= 0.4 + REDIS_TIMEOUT + 0.3, elapsed
    warnings = [e for e in logs if "without Redis" in e["event"]]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"


async def test_redis_returning_is_used_again(resources: Resources) -> None:
    rates = Rates.of(global_rate=1000, chat_rate=1.0, chat_burst=1)
    pacer = _pacer(resources, rates)
    pacer._redis_failed(ConnectionError("gone"))  # as after a failure
    pacer._redis_after = 0.0  # the retry delay has passed
    with capture_logs() as logs:
        await pacer.acquire(CHAT)
    assert await resources.redis.exists(pacer.chat_key(CHAT)) == 1
    assert [e["event"] for e in logs] == ["telegram pacing shared through Redis again"]
