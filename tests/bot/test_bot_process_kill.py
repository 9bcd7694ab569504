"""A bot process (`python main.py bot`) killed with SIGKILL in the middle of a burst: a
restarted process takes over the dead one's chats within seconds - its chat locks are owned by
a process identity that stops signing life, so they are not waited out - and answers every
chat once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import func, select

from backend.config import ROOT_DIR, Settings
from backend.models import TelegramUpdate
from backend.state import Resources
from tests.bot.harness import wait_until
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.support.telegram_standin import Call, TelegramStandIn

pytestmark = pytest.mark.slow

CHATS = 30
FIRST_CHAT = 8400
START_TIMEOUT = 60.0
TAKEOVER_TIMEOUT = 15.0  # the old chat locks lived 60 s


class GatedStandIn(TelegramStandIn):
    """Holds every sendMessage until `gate` opens, so a test can kill the bot while its turns
    are in flight. A request whose client went away meanwhile (the process was killed) is not
    delivered, as if it never reached Telegram."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.held = 0

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["method"].lower() == "sendmessage" and not self.gate.is_set():
            self.held += 1
            await self.gate.wait()
            transport = request.transport
            if transport is None or transport.is_closing():
                return web.Response(status=499)
        return await super()._handle(request)


def _env(telegram: TelegramStandIn) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        APP_ENV="test",
        DATABASE_URL=TEST_DATABASE_URL,
        REDIS_URL=TEST_REDIS_URL,
        SEED_DEMO="false",
        DB_POOL_SIZE="5",
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_BASE=telegram.base_url,
        TELEGRAM_MODE="polling",
        LOG_JSON="false",
        LOG_LEVEL="INFO",
    )
    return env


async def _start(telegram: TelegramStandIn, log: Path) -> asyncio.subprocess.Process:
    """`python main.py bot`, returned once it has started (it drops the webhook just before it
    recovers and polls)."""
    starts = len(telegram.calls("deleteWebhook"))
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", "bot", cwd=ROOT_DIR, env=_env(telegram),
            stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        await telegram.wait_for("deleteWebhook", count=starts + 1, timeout=START_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the bot did not start\n{(await asyncio.to_thread(log.read_text))[-3000:]}")
    return proc


@pytest.fixture
async def telegram() -> AsyncIterator[GatedStandIn]:
    standin = GatedStandIn()
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


def _to_burst(call: Call) -> bool:
    chat = call.params.get("chat_id")
    return call.status == 200 and isinstance(chat, int) and chat >= FIRST_CHAT


async def test_a_restart_takes_over_a_killed_process_and_answers_every_chat_once(
    resources: Resources, telegram: GatedStandIn, tmp_path: Path
) -> None:
    log = tmp_path / "bot.log"
    first = await _start(telegram, log)
    procs: list[asyncio.subprocess.Process] = [first]
    try:
        for n in range(CHATS):
            telegram.queue_update(telegram.message(FIRST_CHAT + n, "привет"))
        # killed while turns are in flight: claimed, their replies on the way to Telegram

        async def in_flight() -> bool:
            return telegram.held >= 3

        await wait_until(in_flight, "turns in flight", timeout=30)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        await asyncio.sleep(0.2)  # the stand-in sees the killed process's connections close
        telegram.gate.set()
        assert not [c for c in telegram.calls("sendMessage") if _to_burst(c)]

        second = await _start(telegram, log)
        procs.append(second)

        async def all_done() -> bool:
            async with resources.sessionmaker() as s:
                done = await s.scalar(
                    select(func.count())
                    .select_from(TelegramUpdate)
                    .where(TelegramUpdate.status == "done")
                )
            return done == CHATS

        try:
            await wait_until(all_done, "every chat answered after the restart", TAKEOVER_TIMEOUT)
        except TimeoutError as exc:
            raise AssertionError(
                f"{exc}\n{(await asyncio.to_thread(log.read_text))[-3000:]}"
            ) from None
        texts: dict[int, list[str]] = {FIRST_CHAT + n: [] for n in range(CHATS)}
        for c in telegram.calls("sendMessage"):
            if _to_burst(c):
                texts[c.params["chat_id"]].append(str(c.params.get("text")))
        answer = texts[FIRST_CHAT]
        assert answer and len(set(answer)) == len(answer), f"answered twice: {answer}"
        for chat, got in texts.items():
            assert got == answer, f"chat {chat}: {got}"
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
