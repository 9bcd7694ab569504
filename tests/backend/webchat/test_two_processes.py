"""Two app processes (`python main.py api` twice, on two ports) over the same PostgreSQL and
Redis: the visitor's socket is on process A, the agent's REST calls go to process B. The visitor
sees the agent take over and reply at once (the test never pings: the events cross from B to A
through Redis and A's hub), and the agent sees the visitor's message (on the conversation's
Redis channel, and in B's transcript)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from redis.asyncio import from_url
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.typing import Origin

from backend.config import ROOT_DIR, Settings
from backend.models import Conversation
from tests.backend.webchat.conftest import ORIGIN, recv, recv_until, send
from tests.support.net import free_port

START_TIMEOUT_S = 60
AGENT_API = "/api/v1/agent/conversations"
ASK_FOR_A_PERSON = "v1:nav:agent:"  # the menu's "operator" button (dialogs/flows/base.py)


def _env(settings: Settings, port: int, data_dir: Path) -> dict[str, str]:
    """The test settings for a process of its own (nothing of this environment leaks in)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        APP_ENV="test",
        HOST="127.0.0.1",
        PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        WIDGET_ORIGINS=json.dumps([ORIGIN]),
        RUN_WORKER="false",
        RUN_BILLING_SCHEDULER="false",
        SEED_DEMO="false",
        DATA_DIR=str(data_dir),
        LOG_JSON="false",
        LOG_LEVEL="WARNING",
    )
    return env


@asynccontextmanager
async def _process(settings: Settings, tmp_path: Path, name: str) -> AsyncIterator[str]:
    port = free_port()
    log_path = tmp_path / f"{name}.log"
    data_dir = tmp_path / name
    data_dir.mkdir()
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "main.py",
            "api",
            cwd=ROOT_DIR,
            env=_env(settings, port, data_dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + START_TIMEOUT_S
            while True:
                if proc.returncode is not None:
                    pytest.fail(f"{name} exited: {log_path.read_text(errors='replace')[-3000:]}")
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if loop.time() > deadline:
                    pytest.fail(f"{name} did not start: {log_path.read_text(errors='replace')}")
                await asyncio.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def _has(state: str):
    return lambda fs: any(f.get("kind") == "handover" and f.get("state") == state for f in fs)


async def test_a_visitor_on_one_process_and_an_agent_on_another(
    settings, session, as_staff, tmp_path
):
    _, staff = await as_staff()
    async with (
        _process(settings, tmp_path, "a") as process_a,
        _process(settings, tmp_path, "b") as process_b,
        httpx.AsyncClient(base_url=process_a, timeout=10) as api_a,
        httpx.AsyncClient(base_url=process_b, timeout=10) as api_b,
    ):
        started = (await api_a.post("/api/v1/webchat/session", json={})).json()
        ws_url = process_a.replace("http://", "ws://") + "/ws/chat"
        async with connect(ws_url, origin=Origin(ORIGIN), open_timeout=5) as ws:
            await send(ws, {"type": "auth", "session_token": started["session_token"],
                            "locale": "en"})  # fmt: skip
            assert (await recv(ws))["type"] == "ready"
            await send(ws, {"type": "message", "client_msg_id": "m1",
                            "payload": ASK_FOR_A_PERSON})  # fmt: skip
            await recv_until(ws, _has("waiting_agent"), seconds=30)
            conversation_id = (
                await session.scalars(
                    select(Conversation.id).where(Conversation.channel == "webchat")
                )
            ).one()

            # the agent, on B, takes over: the visitor on A sees it without asking
            claimed = await api_b.post(f"{AGENT_API}/{conversation_id}/claim", headers=staff)
            assert claimed.status_code == 200, claimed.text
            await recv_until(ws, _has("agent"))

            replied = await api_b.post(
                f"{AGENT_API}/{conversation_id}/messages",
                headers=staff,
                json={"text": "Hello from process B"},
            )
            assert replied.status_code == 201, replied.text
            frames = await recv_until(ws, lambda fs: any(f.get("from") == "agent" for f in fs))
            reply = next(f for f in frames if f.get("from") == "agent")
            assert reply["text"] == "Hello from process B"
            assert reply["seq"] == replied.json()["message_id"]

            # the visitor writes on A: the agent's side hears of it and reads it on B
            redis = from_url(settings.redis_url, decode_responses=True)
            pubsub = redis.pubsub()
            await pubsub.subscribe(f"conv:{conversation_id}")
            await pubsub.get_message(timeout=1)
            try:
                await send(ws, {"type": "message", "client_msg_id": "m2",
                                "text": "my router blinks red"})  # fmt: skip
                await recv_until(ws, lambda fs: any(f.get("type") == "ack" for f in fs))
                heard = None
                async with asyncio.timeout(5):
                    while heard is None or heard.get("type") != "customer_message":
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1
                        )
                        heard = json.loads(message["data"]) if message else None
            finally:
                await pubsub.aclose()
                await redis.aclose()
            assert heard["conversation_id"] == conversation_id
            assert heard["text"] == "my router blinks red"
            detail = await api_b.get(f"{AGENT_API}/{conversation_id}", headers=staff)
            assert detail.status_code == 200, detail.text
            assert "my router blinks red" in detail.text
