"""`python main.py` on the embedded default (SQLite, the in-process Redis stand-in, demo data)
with TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE pointed at a local Bot API server (the tests'
stand-in): the one process polls Telegram, sets the command menu, links the demo customer by
the deep link the API issues, answers the balance, offers a top-up, and stops cleanly."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from backend.config import ROOT_DIR
from backend.i18n import t
from backend.seed import DEMO_CONTRACT
from tests.ops.test_embedded import (
    DEMO_LOGIN,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    _env,
    _tail,
)
from tests.support.net import free_port
from tests.support.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.slow

CHAT = 9101


async def _healthy(client: httpx.AsyncClient, proc: asyncio.subprocess.Process, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        if proc.returncode is not None:
            pytest.fail(f"main.py exited with {proc.returncode}\n{_tail(log)}")
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    pytest.fail(f"/health did not answer within {START_TIMEOUT_S}s\n{_tail(log)}")


async def _reply(telegram: TelegramStandIn, update: dict[str, object]) -> list[str]:
    before = len(telegram.sent_texts(CHAT))
    telegram.queue_update(update)
    await telegram.wait_for(
        "sendMessage", where=lambda c: c.params.get("chat_id") == CHAT, count=before + 1,
        timeout=30,
    )  # fmt: skip
    await asyncio.sleep(0.3)  # the rest of the turn's messages
    return telegram.sent_texts(CHAT)[before:]


async def test_main_py_serves_telegram_on_the_embedded_default(tmp_path: Path) -> None:
    telegram = TelegramStandIn()
    await telegram.start()
    port = free_port()
    env, _ = _env(tmp_path, port, billing_run=False)
    env.update(TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_API_BASE=telegram.base_url)
    log = tmp_path / "main.log"
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", cwd=ROOT_DIR, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            await _healthy(api, proc, log)
            await telegram.wait_for("getUpdates", timeout=START_TIMEOUT_S)
            assert telegram.commands_for("ru") is not None, _tail(log)

            login = await api.post("/api/v1/auth/login", json=DEMO_LOGIN)
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['tokens']['access_token']}"}
            link = await api.post("/api/v1/me/telegram/link", headers=headers)
            assert link.status_code == 200, link.text
            token = link.json()["token"]

            linked = await _reply(telegram, telegram.command(CHAT, "/start", args=token))
            assert linked[0] == t("telegram-linked", "ru", contract=DEMO_CONTRACT), linked
            balance = await _reply(telegram, telegram.message(CHAT, "какой у меня баланс?"))
            assert any("350" in text for text in balance), balance
            pay = await _reply(telegram, telegram.command(CHAT, "/pay"))
            assert pay[0] == t("dialogs-topup-ask", "ru"), pay
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                pytest.fail(f"no exit within {STOP_TIMEOUT_S}s of SIGTERM\n{_tail(log)}")
            assert code in (0, -signal.SIGTERM), f"exit code {code}\n{_tail(log)}"
        await telegram.stop()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text, _tail(log)
    assert "telegram polling stopped" in text, _tail(log)
