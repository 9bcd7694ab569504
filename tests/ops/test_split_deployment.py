"""The production shape, on this machine: every service of docker-compose.yml that runs our
image is started with its own `command`, as a separate process, on PostgreSQL and Redis
(the compose hostnames replaced by the local servers). The one-shot `migrate` finishes, the
demo data is seeded with the README's `python main.py seed`, then `api`, `worker` and `bot`
run side by side against the Bot API stand-in: a customer links Telegram with the deep link
the api issues and reads the balance through the bot process, the worker delivers the
api's notifications, and SIGTERM stops each process cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

from backend.config import ROOT_DIR, Settings
from backend.i18n import t
from backend.seed import DEMO_CONTRACT
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.ops.test_compose import OURS, SERVICES, _command
from tests.ops.test_embedded import DEMO_LOGIN, START_TIMEOUT_S, STOP_TIMEOUT_S
from tests.ops.test_embedded_telegram import CHAT, _healthy, _reply
from tests.support.net import free_port
from tests.support.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.slow

ONE_SHOT = {name for name in OURS if SERVICES[name].get("restart") == "no"}
LONG_RUNNING = sorted(set(OURS) - ONE_SHOT)


def _database_url(suffix: str = "split") -> str:
    """A scratch database beside the test database, on the same server."""
    url = make_url(TEST_DATABASE_URL)
    return url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)


async def _admin(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )


async def _recreate(url: str, *, drop_only: bool = False) -> None:
    admin = await _admin(url)
    try:
        name = make_url(url).database
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def _env(tmp_path: Path, database_url: str, port: int, telegram: TelegramStandIn) -> dict[str, str]:
    """The compose `environment` of our services with the hosts made local, plus what .env
    would give: a development deployment with a bot token."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    compose_env: dict[str, Any] = SERVICES[OURS[0]].get("environment") or {}
    assert "DATABASE_URL" in compose_env and "REDIS_URL" in compose_env
    env.update(
        APP_ENV="development",
        DATABASE_URL=database_url,
        REDIS_URL=TEST_REDIS_URL,
        HOST="127.0.0.1",
        PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        DATA_DIR=str(tmp_path / "data"),
        SEED_DEMO="true",
        # the daily run would charge the demo's first day; the balance below is the seed's
        RUN_BILLING_SCHEDULER="false",
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_BASE=telegram.base_url,
        LOG_JSON="false",
        LOG_LEVEL="INFO",
    )
    if "MIGRATE_DATABASE_URL" in compose_env:
        env["MIGRATE_DATABASE_URL"] = database_url
    return env


def _tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


async def _start(name: str, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    command = _command(SERVICES[name]["command"])
    assert command[:2] == ["python", "main.py"], command
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, *command[1:], cwd=ROOT_DIR, env=env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def _run_once(argv: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, cwd=ROOT_DIR, env=env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    code = await asyncio.wait_for(proc.wait(), START_TIMEOUT_S)
    assert code == 0, f"python {' '.join(argv)} exited {code}\n{_tail(log)}"


async def _stop(name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    assert proc.returncode is None, f"{name} exited early ({proc.returncode})\n{_tail(log)}"
    proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"{name}: no exit within {STOP_TIMEOUT_S}s of SIGTERM\n{_tail(log)}")
    assert code in (0, -signal.SIGTERM), f"{name}: exit code {code}\n{_tail(log)}"
    assert "Traceback" not in _tail(log, lines=100_000), _tail(log)


async def _outbox_done(database_url: str, kind_like: str, within: float = 20) -> int:
    parsed = make_url(database_url)
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            done = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE status = 'done' AND kind LIKE $1", kind_like
            )
            if done:
                return int(done)
            await asyncio.sleep(0.2)
        return 0
    finally:
        await conn.close()


def test_compose_runs_migrate_api_worker_and_bot():
    assert "migrate" in ONE_SHOT
    assert {"api", "worker", "bot"} <= set(LONG_RUNNING), LONG_RUNNING


async def test_every_compose_service_runs_as_its_own_process(tmp_path: Path) -> None:
    database_url = _database_url()
    await _recreate(database_url)
    r = aioredis.from_url(TEST_REDIS_URL)
    await r.flushdb()
    telegram = TelegramStandIn()
    await telegram.start()
    port = free_port()
    env = _env(tmp_path, database_url, port, telegram)
    logs = {name: tmp_path / f"{name}.log" for name in OURS}
    procs: dict[str, asyncio.subprocess.Process] = {}
    try:
        for name in sorted(ONE_SHOT):
            proc = await _start(name, env, logs[name])
            code = await asyncio.wait_for(proc.wait(), START_TIMEOUT_S)
            assert code == 0, f"{name} exited {code}\n{_tail(logs[name])}"
        # the README's (and the compose header's) seeding step, exactly as documented
        await _run_once(["main.py", "seed"], env, tmp_path / "seed.log")

        for name in LONG_RUNNING:
            procs[name] = await _start(name, env, logs[name])

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            await _healthy(api, procs["api"], logs["api"])
            health = (await api.get("/health")).json()
            assert health["database_backend"] == "postgresql", health
            assert health["redis_backend"] != "embedded", health
            # the api's own healthcheck command from the compose file, on this port
            check = SERVICES["api"]["healthcheck"]["test"]
            argv = [a.replace(":8000/", f":{port}/") for a in check[1:]]
            assert argv[0] == "python"
            await _run_once(argv[1:], env, tmp_path / "healthcheck.log")

            await telegram.wait_for("getUpdates", timeout=START_TIMEOUT_S)
            assert telegram.commands_for("ru") is not None, _tail(logs["bot"])

            login = await api.post("/api/v1/auth/login", json=DEMO_LOGIN)
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['tokens']['access_token']}"}
            link = await api.post("/api/v1/me/telegram/link", headers=headers)
            assert link.status_code == 200, link.text

            linked = await _reply(
                telegram, telegram.command(CHAT, "/start", args=link.json()["token"])
            )
            assert linked[0] == t("telegram-linked", "ru", contract=DEMO_CONTRACT), linked
            balance = await _reply(telegram, telegram.message(CHAT, "какой у меня баланс?"))
            assert any("350" in text for text in balance), balance

            # a notification the api queues is delivered by the worker process
            forgot = await api.post(
                "/api/v1/auth/password/forgot", json={"login": "demo@example.com"}
            )
            assert forgot.status_code == 202, forgot.text
            assert await _outbox_done(database_url, "%password%") >= 1, _tail(logs["worker"])

        for name in LONG_RUNNING:
            await _stop(name, procs[name], logs[name])
        assert "telegram polling stopped" in _tail(logs["bot"], lines=100_000)
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await telegram.stop()
        await r.flushdb()
        await r.aclose()
        await _recreate(database_url, drop_only=True)
