"""`python -m rasa_sdk --actions dialogs.rasa_actions` as its own process, on the test database
and Redis: /health, then a real action call on /webhook."""

from __future__ import annotations

import pytest

pytest.importorskip("rasa_sdk")

import asyncio
import os
import sys
import time

import httpx

from backend.config import ROOT_DIR
from backend.i18n import t
from tests.dialogs.rasa.conftest import action_call, make_conversation
from tests.factories import make_customer
from tests.support.net import free_port

pytestmark = pytest.mark.slow


async def test_standalone_action_server(session, resources):
    _, customer = await make_customer(session, balance=25000)
    await make_conversation(session, chat_id="555", customer_id=customer.id, locale="ru")
    await session.commit()
    settings = resources.settings
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SEED_DEMO": "false",
        "RUN_WORKER": "false",
        "DATA_DIR": str(settings.data_dir),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rasa_sdk",
        "--actions",
        "dialogs.rasa_actions",
        "--port",
        str(port),
        cwd=ROOT_DIR,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert proc.returncode is None, "the action server exited"
                try:
                    health = await client.get("/health")
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the action server did not start"
                await asyncio.sleep(0.2)
            assert health.json() == {"status": "ok"}
            names = {a["name"] for a in (await client.get("/actions")).json()}
            assert "action_check_balance" in names
            response = await client.post(
                "/webhook", json=action_call("action_check_balance", sender_id="telegram:555")
            )
            assert response.status_code == 200, response.text
            assert response.json()["responses"][0]["text"] == t("dialogs-balance", "ru", amount=250)
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
