"""`/ws/agent`: the console's live events (docs/agent-console.md, "The socket").

The socket is authenticated by the console's cookie (`pd_console`, a staff access token with
2FA) and opened only from the console's own origin (`PUBLIC_URL`, else close 4403: a cookie
rides along with a socket that any page opens). It forwards

- every `agents:events` event (queue and presence changes) as `{"type": "agents", "event": ...}`;
- the events of the conversations the page says it shows (`{"type": "watch",
  "conversation_ids": [...]}`) as `{"type": "conv", "conversation_id": N, "event": ...}`.

Every CLOSE_CHECK_SECONDS it checks that the session still stands (not signed out, revoked or
expired) and else closes with 4401, after which the page refreshes its cookie or signs in.
The events come from the process's Redis hub (backend/webchat/live.py): one subscriber per
process, whichever process published."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import jwt
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from backend.auth.tokens import Principal
from backend.deps import CONSOLE_COOKIE
from backend.logging import get_logger
from backend.state import Resources
from backend.webchat import live
from backend.webchat.console import presence_hooks
from backend.webchat.console.session import principal_from_cookie
from dialogs.handover import EVENTS_CHANNEL

log = get_logger(__name__)
router = APIRouter()

CLOSE_SESSION = 4401
CLOSE_ORIGIN = 4403
CLOSE_IDLE = 4408
MAX_FRAME_BYTES = 4096
MAX_WATCHED = 10
IDLE_SECONDS = 75  # the page pings every 25 s
CLOSE_CHECK_SECONDS = 5.0


class _Closed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _origin_allowed(websocket: WebSocket, resources: Resources) -> bool:
    origin = websocket.headers.get("origin")
    return origin is not None and origin.rstrip("/") == resources.settings.public_url.rstrip("/")


def _token_expiry(token: str) -> float:
    """The access token's `exp` (already verified by principal_from_cookie)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])


def _parse(raw: str) -> dict[str, Any] | None:
    """A client frame, or None when it is malformed."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(frame, dict):
        return None
    kind = frame.get("type")
    if kind == "ping" and frame.keys() == {"type"}:
        return frame
    if kind == "watch" and frame.keys() == {"type", "conversation_ids"}:
        ids = frame["conversation_ids"]
        if (
            isinstance(ids, list)
            and len(ids) <= MAX_WATCHED
            and all(type(i) is int and 1 <= i < 2**63 for i in ids)
        ):
            return frame
    return None


class AgentConnection:
    def __init__(
        self, websocket: WebSocket, resources: Resources, principal: Principal, token: str
    ) -> None:
        self.ws = websocket
        self.resources = resources
        self.principal = principal
        self.token = token
        self.expires = _token_expiry(token)
        self.hub = live.hub_of(websocket.app.state, resources.redis)
        self.send_lock = asyncio.Lock()
        self.watched: dict[int, asyncio.Task[None]] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_text(json.dumps(frame, ensure_ascii=False))

    async def run(self) -> None:
        await self.send({"type": "ready", "user_id": self.principal.user_id})
        self.tasks.append(asyncio.create_task(self._agents()))
        self.tasks.append(asyncio.create_task(self._guard()))
        receiver = asyncio.create_task(self._receive())
        self.tasks.append(receiver)
        done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if exc is not None:
                raise exc

    async def _agents(self) -> None:
        async with self.hub.subscribe(live.AGENTS) as events:
            async for event in events:
                await self.send({"type": "agents", "event": event})

    async def _conversation(self, conversation_id: int) -> None:
        async with self.hub.subscribe(EVENTS_CHANNEL.format(conversation_id)) as events:
            async for event in events:
                await self.send(
                    {"type": "conv", "conversation_id": conversation_id, "event": event}
                )

    async def _guard(self) -> None:
        """Close 4401 once the session is over: signed out, revoked, the user deactivated, or
        the access token expired (the page refreshes its cookie and reconnects)."""
        while True:
            await asyncio.sleep(CLOSE_CHECK_SECONDS)
            denied = await self.resources.revocations.is_denied(
                self.principal.sid, self.principal.user_id
            )
            if denied or time.time() >= self.expires:
                raise _Closed(CLOSE_SESSION)
            await presence_hooks.socket_alive(self.resources, self.principal.user_id)

    async def _receive(self) -> None:
        while True:
            try:
                message = await asyncio.wait_for(self.ws.receive(), IDLE_SECONDS)
            except TimeoutError:
                raise _Closed(CLOSE_IDLE) from None
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None or len(raw.encode()) > MAX_FRAME_BYTES:
                await self._error("bad_frame" if raw is None else "frame_too_large")
                continue
            frame = _parse(raw)
            if frame is None:
                await self._error("bad_frame")
            elif frame["type"] == "ping":
                await self.send({"type": "pong"})
            else:
                self._watch(frame["conversation_ids"])

    async def _error(self, code: str) -> None:
        await self.send({"type": "error", "code": code})

    def _watch(self, ids: list[int]) -> None:
        wanted = set(ids)
        for conversation_id in list(self.watched):
            if conversation_id not in wanted:
                self.watched.pop(conversation_id).cancel()
        for conversation_id in wanted - self.watched.keys():
            self.watched[conversation_id] = asyncio.create_task(self._conversation(conversation_id))

    async def close(self) -> None:
        tasks = [*self.tasks, *self.watched.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@router.websocket("/ws/agent")
async def agent_socket(websocket: WebSocket) -> None:
    resources: Resources = websocket.app.state.resources
    await websocket.accept()  # first, so that the page can read why it is closed
    connection: AgentConnection | None = None
    try:
        if not _origin_allowed(websocket, resources):
            raise _Closed(CLOSE_ORIGIN)
        token = websocket.cookies.get(CONSOLE_COOKIE)
        principal = await principal_from_cookie(resources, token)
        if principal is None or token is None:
            raise _Closed(CLOSE_SESSION)
        connection = AgentConnection(websocket, resources, principal, token)
        await presence_hooks.socket_opened(resources, principal.user_id)
        await connection.run()
    except _Closed as closed:
        if websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(closed.code)
    except WebSocketDisconnect:
        pass
    except Exception as exc:  # a send on a socket the browser already dropped
        log.info("console.socket_ended", error=f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        if connection is not None:
            await connection.close()
            try:
                await presence_hooks.socket_closed(
                    resources,
                    connection.principal.user_id,
                    getattr(
                        websocket.app.state,
                        "console_offline_grace",
                        presence_hooks.OFFLINE_GRACE_SECONDS,
                    ),
                    websocket.app.state.offline_timers,
                )
            except Exception:
                log.warning("console.socket_count_failed", user_id=connection.principal.user_id)
