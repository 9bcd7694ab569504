"""`/ws/agent` over a real uvicorn server and a real WebSocket client: the console's cookie
opens it from the console's own origin only; it forwards the agents' events and the watched
conversations' events from Redis; a malformed frame gets an error and changes nothing; a
session signed out closes it with 4401; the last socket closing sends the agent offline after
the grace period."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from backend.app import create_app
from backend.models import Role
from backend.state import Resources
from backend.webchat import presence
from backend.webchat.console import socket as agent_socket
from tests.backend.payments.conftest import serve
from tests.conftest import make_settings
from tests.factories import access_token_for, make_user


@asynccontextmanager
async def console_server(resources: Resources) -> AsyncIterator[tuple[Any, str]]:
    import dataclasses

    def make(base_url: str):
        settings = make_settings(public_url=base_url)
        app = create_app(settings, resources=dataclasses.replace(resources, settings=settings))
        app.state.console_offline_grace = 0.3
        return app

    async with serve(make) as (app, base_url):
        await app.state.live.ready.wait()
        yield app, base_url


@asynccontextmanager
async def agent_ws(
    base_url: str, token: str | None, origin: str | None = None
) -> AsyncIterator[ClientConnection]:
    headers = {"Cookie": f"pd_console={token}"} if token else {}
    async with connect(
        base_url.replace("http://", "ws://") + "/ws/agent",
        origin=Origin(origin or base_url),
        additional_headers=headers,
        open_timeout=5,
        close_timeout=2,
    ) as ws:
        yield ws


async def recv(ws: ClientConnection, seconds: float = 5) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), seconds))
    return data


async def reply(ws: ClientConnection, seconds: float = 5) -> dict[str, Any]:
    """The next frame that answers this socket, past the broadcasts every console hears."""
    while True:
        frame = await recv(ws, seconds)
        if frame["type"] != "agents":
            return frame


async def closed_with(ws: ClientConnection, seconds: float = 5) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), seconds)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


@pytest.fixture
async def agent(session, settings):
    user = await make_user(session, role=Role.agent)
    await session.commit()
    return user


async def test_events_reach_the_console(resources, session, settings, agent) -> None:
    token = access_token_for(settings, agent)
    async with console_server(resources) as (_, base), agent_ws(base, token) as ws:
        ready = await recv(ws)
        assert ready == {"type": "ready", "user_id": agent.id}
        await resources.redis.publish(
            "agents:events",
            json.dumps({"type": "queue", "event": "waiting_agent", "conversation_id": 7}),
        )
        frame = await recv(ws)
        assert frame == {
            "type": "agents",
            "event": {"type": "queue", "event": "waiting_agent", "conversation_id": 7},
        }

        # a conversation's events only once the page watches it
        await resources.redis.publish("conv:9", json.dumps({"type": "typing", "from": "customer"}))
        await ws.send(json.dumps({"type": "watch", "conversation_ids": [9]}))
        await asyncio.sleep(0.2)
        await resources.redis.publish(
            "conv:9", json.dumps({"type": "typing", "conversation_id": 9, "from": "customer"})
        )
        frame = await recv(ws)
        assert frame["type"] == "conv"
        assert frame["conversation_id"] == 9
        assert frame["event"]["from"] == "customer"

        await ws.send(json.dumps({"type": "watch", "conversation_ids": []}))
        await asyncio.sleep(0.2)
        await resources.redis.publish("conv:9", json.dumps({"type": "agent_action"}))
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[]",
        json.dumps({"type": "watch"}),
        json.dumps({"type": "watch", "conversation_ids": ["1"]}),
        json.dumps({"type": "watch", "conversation_ids": list(range(1, 30))}),
        json.dumps({"type": "ping", "extra": 1}),
        json.dumps({"type": "nope"}),
        "x" * 5000,
    ],
)
async def test_a_malformed_frame_gets_an_error(resources, settings, agent, frame) -> None:
    token = access_token_for(settings, agent)
    async with console_server(resources) as (_, base), agent_ws(base, token) as ws:
        await recv(ws)
        await ws.send(frame)
        error = await reply(ws)
        assert error["type"] == "error"
        assert error["code"] in ("bad_frame", "frame_too_large")
        await ws.send(json.dumps({"type": "ping"}))
        assert await reply(ws) == {"type": "pong"}


async def test_a_foreign_origin_is_refused(resources, settings, agent) -> None:
    token = access_token_for(settings, agent)
    async with (
        console_server(resources) as (_, base),
        agent_ws(base, token, origin="https://evil.example") as ws,
    ):
        assert await closed_with(ws) == 4403


async def test_without_a_staff_cookie_the_socket_closes(resources, session, settings) -> None:
    customer = await make_user(session, role=Role.customer)
    no_mfa = await make_user(session, role=Role.agent)
    await session.commit()
    async with console_server(resources) as (_, base):
        async with agent_ws(base, None) as ws:
            assert await closed_with(ws) == 4401
        async with agent_ws(base, access_token_for(settings, customer)) as ws:
            assert await closed_with(ws) == 4401
        async with agent_ws(base, access_token_for(settings, no_mfa, mfa=False)) as ws:
            assert await closed_with(ws) == 4401
        async with agent_ws(base, "garbage") as ws:
            assert await closed_with(ws) == 4401


async def test_a_revoked_session_closes_the_socket(resources, settings, agent, monkeypatch) -> None:
    monkeypatch.setattr(agent_socket, "CLOSE_CHECK_SECONDS", 0.2)
    token = access_token_for(settings, agent, sid="console-session")
    async with console_server(resources) as (_, base), agent_ws(base, token) as ws:
        await recv(ws)
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}
        await resources.revocations.revoke(["console-session"], 600)
        assert await closed_with(ws) == 4401


async def test_the_last_socket_closing_sends_the_agent_offline(resources, settings, agent) -> None:
    token = access_token_for(settings, agent)
    async with console_server(resources) as (_, base):
        await presence.set_status(resources.redis, agent.id, "online")
        async with agent_ws(base, token) as first, agent_ws(base, token) as second:
            await recv(first)
            await recv(second)
        # both gone: after the grace period the agent is offline
        for _ in range(50):
            if await presence.status_of(resources.redis, agent.id) == "offline":
                break
            await asyncio.sleep(0.1)
        assert await presence.status_of(resources.redis, agent.id) == "offline"

        await presence.set_status(resources.redis, agent.id, "online")
        async with agent_ws(base, token) as ws:
            await recv(ws)
            async with agent_ws(base, token) as other:
                await recv(other)
            # one socket is still open: still online after the grace period
            await asyncio.sleep(0.8)
            assert await presence.status_of(resources.redis, agent.id) == "online"
