"""The web chat socket over a real uvicorn server (the shared `serve` of the payment tests) and
a real WebSocket client (`websockets`), in the test's event loop, against the test PostgreSQL
and Redis. The engine runs over the keyword parser of the engine tests, so what a message means
does not depend on the NLU."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from backend.app import create_app
from backend.state import Resources
from dialogs.engine import Engine
from tests.backend.payments.conftest import serve
from tests.conftest import make_settings
from tests.dialogs.engine.conftest import KeywordParser

ORIGIN = "https://shop.example"


@dataclasses.dataclass
class ChatServer:
    base_url: str
    resources: Resources
    http: AsyncClient
    app: FastAPI

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws/chat"

    async def session(self, visitor_token: str | None = None) -> dict[str, Any]:
        body = {"visitor_token": visitor_token} if visitor_token else {}
        response = await self.http.post("/api/v1/webchat/session", json=body)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    @asynccontextmanager
    async def socket(
        self, *, origin: str | None = ORIGIN, path: str = ""
    ) -> AsyncIterator[ClientConnection]:
        async with connect(
            self.ws_url + path,
            origin=Origin(origin) if origin else None,
            open_timeout=5,
            close_timeout=2,
        ) as ws:
            yield ws

    @asynccontextmanager
    async def chat(
        self, visitor_token: str | None = None, **auth: Any
    ) -> AsyncIterator[tuple[ClientConnection, dict[str, Any], dict[str, Any]]]:
        """An authenticated socket: (socket, the session, the ready frame)."""
        started = await self.session(visitor_token)
        async with self.socket() as ws:
            await send(ws, {"type": "auth", "session_token": started["session_token"], **auth})
            ready = await recv(ws)
            assert ready["type"] == "ready", ready
            yield ws, started, ready


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(json.dumps(frame))


async def recv(ws: ClientConnection, seconds: float = 5) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), seconds))
    return data


async def recv_until(
    ws: ClientConnection, done: Callable[[list[dict[str, Any]]], bool], seconds: float = 5
) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(seconds):
        while not done(frames):
            frames.append(await recv(ws, seconds))
    return frames


def turn_done(frames: list[dict[str, Any]]) -> bool:
    """A turn's frames are all in: the bot has answered and stopped typing."""
    answered = any(f["type"] == "message" and f["from"] == "bot" for f in frames)
    return answered and any(f["type"] == "typing" and f["on"] is False for f in frames)


async def quiet(ws: ClientConnection, seconds: float = 0.3) -> list[dict[str, Any]]:
    """Whatever arrives within `seconds` (nothing, usually)."""
    frames = []
    try:
        while True:
            frames.append(await recv(ws, seconds))
    except TimeoutError:
        return frames


@pytest.fixture
def chat_server(resources: Resources) -> Callable[..., Any]:
    """`async with chat_server(**settings) as server`: the app on a free port."""

    def make(**overrides: Any) -> Any:
        return serve_chat(resources, overrides)

    return make


@asynccontextmanager
async def serve_chat(resources: Resources, overrides: dict[str, Any]) -> AsyncIterator[ChatServer]:
    def make(base_url: str) -> FastAPI:
        values: dict[str, Any] = {"widget_origins": [ORIGIN], "public_url": base_url, **overrides}
        settings = make_settings(**values)
        res = dataclasses.replace(resources, settings=settings)
        app = create_app(settings, resources=res, roles=[])
        app.state.webchat_engine = Engine(res, KeywordParser())
        return app

    async with serve(make) as (app, base_url), AsyncClient(base_url=base_url) as http:
        yield ChatServer(base_url=base_url, resources=app.state.resources, http=http, app=app)
