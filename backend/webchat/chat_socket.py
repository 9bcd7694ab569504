"""`/ws/chat`: the widget's socket (docs/webchat-protocol.md).

One connection: Origin checked against WIDGET_ORIGINS, then the first frame must be `auth`
with a session token within WEBCHAT_AUTH_TIMEOUT_SECONDS; a slot among the address's open
sockets; then frames until the widget leaves or falls silent. A message frame runs one turn of
the dialog engine (channel webchat, the client's message id as the external id, so a re-sent
frame is acked again and never runs twice) and is acked with its seq. An `identify` frame makes
the socket's turns speak for the customer of an access token, until `logout` or until that
identification lapses (backend/webchat/identity.py).

What the widget receives is always "the transcript after the last seq sent": the replies of its
own turns, an agent's replies and notices, and the messages of the visitor's other tabs. The
socket catches up after each turn, on each event of the conversation's Redis channel (so a
message written by another process arrives at once; the process's one subscriber,
backend/webchat/live.py, hands the events to the socket) and on each ping (the safety net when an
event is missed). Typing indicators travel the same channel but are not stored: the bot's around
each turn, the agent's from the console, the visitor's to the console.

Identification needs the visitor's consent to the processing of personal data first (the
`consent` frame, stored once on the conversation and audited)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError
from starlette.websockets import WebSocketState

from backend.audit import service as audit
from backend.clock import utcnow
from backend.context import current_request
from backend.db import unit_of_work
from backend.errors import error_key
from backend.i18n import catalog
from backend.logging import get_logger
from backend.models import ConversationState, MessageDirection, MessageSender
from backend.state import Resources
from backend.webchat import files, history, identity, live, protocol
from backend.webchat import session as webchat_session
from backend.webchat.errors import (
    ConsentRequired,
    FileNotFound,
    InvalidCustomerToken,
    NotACustomerToken,
)
from backend.webchat.limits import ConnectionSlot, MessageRate
from backend.webchat.nlu_endpoints import nlu_holder
from dialogs.engine import Engine
from dialogs.handover import EVENTS_CHANNEL
from dialogs.types import Attachment, Inbound

log = get_logger(__name__)
router = APIRouter()

# The catalog texts of the error frames, by code.
ERROR_TEXTS = {
    "bad_frame": "dialogs-webchat-bad-frame",
    "frame_too_large": "dialogs-webchat-frame-too-large",
    "rate_limited": "dialogs-webchat-rate-limited",
}
# Query parameters that would put a secret in the URL (and so in access logs): refused.
_URL_SECRETS = ("session_token", "token", "visitor_token", "access_token")
CONSENT = "conversation.consent"
# A visitor's typing frames count at most once per this many seconds; more are dropped.
TYPING_INTERVAL_S = 2.0
_HELD = (ConversationState.waiting_agent.value, ConversationState.agent.value)


class _Closed(Exception):
    """Close the socket with this code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


async def engine_for(websocket: WebSocket, resources: Resources) -> Engine:
    """The app's web chat engine over the process's NLU (a test may set its own on
    app.state.webchat_engine); the NLU's tariff names are refreshed as the NLU API does."""
    state = websocket.app.state
    engine: Engine | None = getattr(state, "webchat_engine", None)
    if engine is not None and engine.parser is not nlu_holder.service:
        return engine  # set by its owner, over its own parser
    service = await nlu_holder.get(resources)
    if engine is None or engine.parser is not service:
        engine = Engine(resources, service)
        state.webchat_engine = engine
    return engine


class ChatConnection:
    """One authenticated socket: its conversation, what it has sent, and its limits."""

    def __init__(
        self, websocket: WebSocket, resources: Resources, chat_id: str, locale: str | None
    ) -> None:
        self.ws = websocket
        self.resources = resources
        self.settings = resources.settings
        self.chat_id = chat_id
        self.locale = catalog().locale_for(locale or self.settings.default_locale)
        self.requested_locale = locale
        self.conversation_id: int | None = None
        self.sent_seq = 0
        self.rate = MessageRate(self.settings.webchat_messages_per_minute)
        self.send_lock = asyncio.Lock()
        self.listener: asyncio.Task[None] | None = None
        self.background: set[asyncio.Task[None]] = set()
        # this socket in the conversation's "widget open" set (live.widget_open)
        self.socket_id = live.socket_id()
        self.marked: int | None = None
        self.identity: identity.Identity | None = None  # whom the turns speak for
        self.consented = False
        # an agent has the conversation (the bot does not answer, so no bot typing): the
        # state at the start, then as the hand-over notices sent say
        self.held = False
        self.typed_at = 0.0

    async def send(self, frame: dict[str, Any]) -> None:
        """One frame, or WebSocketDisconnect when the visitor has gone (Starlette raises a
        RuntimeError for a send after the close, the server an OSError for a dropped
        transport): the socket's loop ends the connection on it."""
        ws = self.ws
        if not (ws.client_state is ws.application_state is WebSocketState.CONNECTED):
            raise WebSocketDisconnect(1006)
        try:
            await ws.send_text(json.dumps(frame, ensure_ascii=False))
        except (RuntimeError, OSError) as exc:
            raise WebSocketDisconnect(1006) from exc

    async def send_error(
        self, code: str, client_msg_id: str | None = None, *, text_key: str | None = None
    ) -> None:
        detail = catalog().text(text_key or ERROR_TEXTS[code], self.locale)
        async with self.send_lock:
            await self.send(protocol.error(code, detail, client_msg_id))

    async def start(self) -> None:
        async with self.resources.sessionmaker() as session:
            found = await history.visitor_conversation(session, self.chat_id)
        if found is not None:
            self.conversation_id, self.sent_seq = found.id, found.last_seq
            self.held = found.state.value in _HELD
            self.consented = found.consented
            self._listen()
        policy = self.settings.privacy_policy_url or None
        async with self.send_lock:
            await self.send(
                protocol.ready(
                    self.conversation_id,
                    self.sent_seq,
                    consented=self.consented,
                    policy_url=policy,
                )
            )

    async def catch_up(self) -> None:
        """Send every row after the last one sent, in order."""
        if self.conversation_id is None:
            return
        async with self.send_lock:
            while True:
                async with self.resources.sessionmaker() as session:
                    rows = await history.after(session, self.conversation_id, self.sent_seq)
                for row in rows:
                    frame = protocol.message(
                        row.id,
                        MessageDirection(row.direction),
                        MessageSender(row.sender),
                        row.external_id,
                        row.text,
                        dict(row.payload or {}),
                    )
                    if frame is not None:
                        await self.send(frame)
                        if frame.get("kind") == "handover":
                            self.held = frame.get("state") in _HELD
                    self.sent_seq = row.id
                if len(rows) < history.PAGE:
                    return

    async def handle(self, raw: str) -> None:
        if len(raw.encode()) > self.settings.webchat_max_frame_bytes:
            await self.send_error("frame_too_large")
            return
        try:
            frame = protocol.parse(raw)
        except protocol.BadFrame as exc:
            await self.send_error("bad_frame", exc.client_msg_id)
            return
        if isinstance(frame, protocol.PingFrame):
            async with self.send_lock:
                await self.send(protocol.pong())
            await self._mark_open()
            await self.catch_up()
        elif isinstance(frame, protocol.ResumeFrame):
            async with self.send_lock:
                self.sent_seq = frame.last_seq
            await self.catch_up()
        elif isinstance(frame, protocol.MessageFrame):
            await self.message(frame)
        elif isinstance(frame, protocol.IdentifyFrame):
            await self.identify(frame)
        elif isinstance(frame, protocol.LogoutFrame):
            await self.end_identity("logout")
        elif isinstance(frame, protocol.ConsentFrame):
            await self.consent()
        elif isinstance(frame, protocol.TypingFrame):
            await self.typing()
        else:  # a second auth frame
            await self.send_error("bad_frame")

    async def _attachment(self, file_id: str) -> Attachment | None:
        """The visitor's upload as the engine's attachment; None when it is not in this
        visitor's conversation."""
        async with self.resources.sessionmaker() as session:
            if self.conversation_id is None:
                found = await history.visitor_conversation(session, self.chat_id)
                if found is None:
                    return None
                self.conversation_id = found.id
                self._listen()
            row = await files.load_file(session, self.conversation_id, file_id)
        if row is None:
            return None
        return Attachment(
            kind=files.kind_of(row.content_type),
            file_id=protocol.WEB_FILE_PREFIX + row.public_id,
            filename=row.filename,
            content_type=row.content_type,
            size=row.size,
        )

    async def message(self, frame: protocol.MessageFrame) -> None:
        if not self.rate.admit():
            await self.send_error("rate_limited", frame.client_msg_id)
            return
        attachments: tuple[Attachment, ...] = ()
        if frame.file_id is not None:
            attachment = await self._attachment(frame.file_id)
            if attachment is None:
                code = FileNotFound.code
                await self.send_error(code, frame.client_msg_id, text_key=error_key(code))
                return
            attachments = (attachment,)
        customer_id = await self.customer_id()
        engine = await engine_for(self.ws, self.resources)
        bot_typing = not self.held
        if bot_typing:
            async with self.send_lock:
                await self.send(protocol.typing("bot", None, True))
        try:
            await self._turn(engine, frame, customer_id, attachments)
        finally:
            if bot_typing:
                # a visitor who closed the tab mid-turn has no indicator to turn off
                with contextlib.suppress(WebSocketDisconnect):
                    async with self.send_lock:
                        await self.send(protocol.typing("bot", None, False))

    async def _turn(
        self,
        engine: Engine,
        frame: protocol.MessageFrame,
        customer_id: int | None,
        attachments: tuple[Attachment, ...],
    ) -> None:
        await engine.handle(
            Inbound(
                channel="webchat",
                chat_id=self.chat_id,
                external_id=frame.client_msg_id,
                customer_id=customer_id,
                locale=self.requested_locale,
                text=frame.text,
                payload=frame.payload,
                attachments=attachments,
            )
        )
        async with self.resources.sessionmaker() as session:
            if self.conversation_id is None:
                found = await history.conversation_of(session, self.chat_id)
                self.conversation_id = found[0] if found else None
                self._listen()
            seq = (
                await history.seq_of(session, self.conversation_id, frame.client_msg_id)
                if self.conversation_id is not None
                else None
            )
        if seq is not None:
            async with self.send_lock:
                await self.send(protocol.ack(frame.client_msg_id, seq))
        await self.catch_up()

    async def consent(self) -> None:
        """The visitor agrees to the processing of personal data: stored on the conversation
        (created if need be) the first time, with its audit row; answered every time."""
        async with unit_of_work(self.resources.sessionmaker) as session:
            conversation_id = await history.ensure_conversation(
                session, self.chat_id, self.locale if self.requested_locale else None
            )
            if await history.record_consent(session, conversation_id, utcnow()):
                await audit.record(
                    session,
                    CONSENT,
                    None,
                    "conversation",
                    conversation_id,
                    policy_url=self.settings.privacy_policy_url or None,
                )
        self.consented = True
        if self.conversation_id is None:
            self.conversation_id = conversation_id
            self._listen()
        async with self.send_lock:
            await self.send(protocol.consented())

    async def _has_consented(self) -> bool:
        """Consent given on this socket, or since on another tab of the visitor."""
        if not self.consented and self.conversation_id is None:
            async with self.resources.sessionmaker() as session:
                found = await history.visitor_conversation(session, self.chat_id)
            self.consented = found is not None and found.consented
        elif not self.consented and self.conversation_id is not None:
            async with self.resources.sessionmaker() as session:
                self.consented = await history.has_consented(session, self.conversation_id)
        return self.consented

    async def typing(self) -> None:
        """Tell the agent's console that the visitor is typing: at most one per interval,
        dropped silently beyond it, and before the first message (no conversation yet)."""
        now = time.monotonic()
        if self.conversation_id is None or now - self.typed_at < TYPING_INTERVAL_S:
            return
        self.typed_at = now
        event = {"type": "typing", "conversation_id": self.conversation_id,
                 "from": "customer", "name": None}  # fmt: skip
        try:
            await self.resources.redis.publish(
                EVENTS_CHANNEL.format(self.conversation_id), json.dumps(event)
            )
        except RedisError:  # an indicator, not a message: nothing to keep
            log.warning("webchat.typing_not_published", conversation_id=self.conversation_id)

    async def identify(self, frame: protocol.IdentifyFrame) -> None:
        """Speak for the token's customer from the next turn on; a refused token changes
        nothing (a socket identified before stays so)."""
        if not self.rate.admit():
            await self.send_error("rate_limited")
            return
        if not await self._has_consented():
            code = ConsentRequired.code
            await self.send_error(code, text_key=error_key(code))
            return
        try:
            self.identity, name = await identity.identify(
                self.resources, self.chat_id, frame.access_token
            )
        except (InvalidCustomerToken, NotACustomerToken) as exc:
            await self.send_error(exc.code, text_key=error_key(exc.code))
            return
        async with self.send_lock:
            await self.send(protocol.identified(name))

    async def customer_id(self) -> int | None:
        """The customer this turn speaks for: the identification's, while it holds."""
        if self.identity is None:
            return None
        lapse = await identity.lapsed(self.resources, self.identity)
        if lapse is None:
            return self.identity.customer_id
        await self.end_identity(lapse)
        return None

    async def end_identity(self, why: identity.Ending) -> None:
        """Back to anonymous: the conversation is cut off the customer (with its audit row),
        and the widget told. A `logout` of an anonymous socket is answered all the same."""
        if self.identity is not None:
            await identity.forget(self.resources, self.chat_id, self.identity, why)
            self.identity = None
        async with self.send_lock:
            await self.send(protocol.logged_out(why))

    def _listen(self) -> None:
        if self.listener is None and self.conversation_id is not None:
            hub = live.hub_of(self.ws.app.state, self.resources.redis)
            # subscribed now, not in the task: an event right after this turn is not missed
            subscription = hub.open(EVENTS_CHANNEL.format(self.conversation_id))
            self.listener = asyncio.create_task(self._events(subscription))
            task = asyncio.create_task(self._mark_open())
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    async def _mark_open(self) -> None:
        """Tell the notification worker a widget shows this conversation (best effort)."""
        conversation_id = self.conversation_id
        if conversation_id is None:
            return
        try:
            redis = self.resources.redis
            if self.marked is not None and self.marked != conversation_id:
                await live.mark_closed(redis, self.marked, self.socket_id)
            await live.mark_open(redis, conversation_id, self.socket_id)
            self.marked = conversation_id
        except Exception:
            log.warning("webchat.mark_open_failed", conversation_id=conversation_id)

    async def _events(self, subscription: live.Subscription) -> None:
        """Catch up on every event of the conversation's channel, whichever process wrote;
        show the agent's typing."""
        try:
            async for event in subscription:
                try:
                    if event.get("type") == "typing":
                        await self._typing_event(event)
                    else:
                        await self.catch_up()
                except (WebSocketDisconnect, RuntimeError):
                    return  # the socket is gone; its loop ends the connection
                except Exception:  # the pings still catch up
                    log.warning("webchat.event_failed", conversation_id=self.conversation_id)
        finally:
            subscription.close()

    async def _typing_event(self, event: dict[str, Any]) -> None:
        if event.get("from") != "agent":
            return  # the visitor's own typing is for the console
        name = event.get("name")
        on = event.get("on", True)
        async with self.send_lock:
            await self.send(
                protocol.typing("agent", name if isinstance(name, str) else None, on is not False)
            )

    async def close(self) -> None:
        if self.marked is not None:
            with contextlib.suppress(Exception):
                await live.mark_closed(self.resources.redis, self.marked, self.socket_id)
        if self.listener is not None:
            self.listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.listener


def _origin_allowed(websocket: WebSocket, resources: Resources) -> bool:
    origin = websocket.headers.get("origin")
    return origin is not None and origin.rstrip("/") in resources.settings.widget_allowed_origins


async def _authenticate(websocket: WebSocket, resources: Resources) -> protocol.AuthFrame:
    """The first frame, within the timeout: a valid auth frame, or close 4401."""
    settings = resources.settings
    try:
        raw = await asyncio.wait_for(
            websocket.receive_text(), settings.webchat_auth_timeout_seconds
        )
    except (TimeoutError, KeyError):  # KeyError: a binary frame
        raise _Closed(protocol.CLOSE_AUTH) from None
    if len(raw.encode()) > settings.webchat_max_frame_bytes:
        raise _Closed(protocol.CLOSE_AUTH)
    try:
        frame = protocol.parse(raw)
    except protocol.BadFrame:
        raise _Closed(protocol.CLOSE_AUTH) from None
    if not isinstance(frame, protocol.AuthFrame):
        raise _Closed(protocol.CLOSE_AUTH)
    return frame


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket) -> None:
    resources: Resources = websocket.app.state.resources
    settings = resources.settings
    await websocket.accept()  # accepted first so that the widget can read why it is closed
    slot: ConnectionSlot | None = None
    connection: ChatConnection | None = None
    try:
        if not _origin_allowed(websocket, resources):
            raise _Closed(protocol.CLOSE_ORIGIN)
        if any(name in websocket.query_params for name in _URL_SECRETS):
            raise _Closed(protocol.CLOSE_AUTH)
        auth = await _authenticate(websocket, resources)
        chat_id = webchat_session.chat_id_from(settings, auth.session_token)
        if chat_id is None:
            raise _Closed(protocol.CLOSE_AUTH)
        ip = current_request().ip or "unknown"
        slot = ConnectionSlot(resources.redis, ip, settings.webchat_idle_seconds * 2)
        if not await slot.acquire(settings.webchat_connections_per_ip):
            slot = None
            raise _Closed(protocol.CLOSE_RATE)
        connection = ChatConnection(websocket, resources, chat_id, auth.locale)
        await connection.start()
        while True:
            try:
                message = await asyncio.wait_for(websocket.receive(), settings.webchat_idle_seconds)
            except TimeoutError:
                raise _Closed(protocol.CLOSE_IDLE) from None
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:  # a binary frame is not a frame of this protocol
                size = len(message.get("bytes") or b"")
                too_large = size > settings.webchat_max_frame_bytes
                await connection.send_error("frame_too_large" if too_large else "bad_frame")
                continue
            await slot.renew()
            await connection.handle(raw)
    except _Closed as closed:
        if websocket.client_state is WebSocketState.CONNECTED:
            await websocket.close(closed.code)
    except WebSocketDisconnect:
        pass
    finally:
        if connection is not None:
            await connection.close()
        if slot is not None:
            await slot.release()
