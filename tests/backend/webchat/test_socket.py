"""/ws/chat end to end (docs/webchat-protocol.md): the way in (Origin, the auth frame, no token
in the URL), a turn (ack with seq, the bot's replies), idempotency by client message id,
resume without loss or duplicates, live delivery through Redis, malformed frames and limits."""

from __future__ import annotations

import asyncio
import functools
import json

import pytest
from fastapi import WebSocketDisconnect
from sqlalchemy import func, select
from starlette.websockets import WebSocketState
from websockets.exceptions import ConnectionClosed

from backend.db import unit_of_work
from backend.models import ConversationMessage, MessageSender
from backend.webchat.chat_socket import ChatConnection
from dialogs import transcript
from dialogs.handover import EVENTS_CHANNEL
from dialogs.types import Text
from tests.backend.webchat.conftest import ORIGIN, quiet, recv, recv_until, send, turn_done


def _acked(frames: list[dict], client_msg_id: str) -> bool:
    """The turn is over: acked, answered, and the bot has stopped typing."""
    acked = any(f["type"] == "ack" and f["client_msg_id"] == client_msg_id for f in frames)
    return acked and turn_done(frames)


async def _close_code(ws, seconds: float = 5) -> int:
    """The code the server closes with (fails if it does not close in time)."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        received = closed.rcvd
    else:
        raise AssertionError("unreachable")
    assert received is not None, "closed without a close frame"
    return received.code


async def _message_count(resources) -> int:
    async with resources.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(ConversationMessage)) or 0)


# --- the way in ----------------------------------------------------------------------------


async def test_a_foreign_origin_is_refused(chat_server):
    async with chat_server() as server, server.socket(origin="https://evil.example") as ws:
        assert await _close_code(ws) == 4403


async def test_no_origin_is_refused(chat_server):
    async with chat_server() as server, server.socket(origin=None) as ws:
        assert await _close_code(ws) == 4403


async def test_the_auth_frame_must_come_in_time(chat_server):
    async with chat_server(webchat_auth_timeout_seconds=0.3) as server, server.socket() as ws:
        assert await _close_code(ws) == 4401


async def test_a_token_in_the_url_is_not_accepted(chat_server):
    async with chat_server() as server:
        started = await server.session()
        async with server.socket(path=f"?session_token={started['session_token']}") as ws:
            assert await _close_code(ws) == 4401


@pytest.mark.parametrize(
    "first",
    [{"type": "auth", "session_token": "not-a-token"}, {"type": "ping"}, "not json"],
)
async def test_a_bad_first_frame_closes_4401(chat_server, first):
    async with chat_server() as server, server.socket() as ws:
        await ws.send(first if isinstance(first, str) else json.dumps(first))
        assert await _close_code(ws) == 4401


async def test_the_default_auth_timeout_is_five_seconds(settings):
    assert settings.webchat_auth_timeout_seconds == 5


async def test_the_apps_own_origin_outside_production(settings):
    assert settings.widget_origins == []
    assert settings.widget_allowed_origins == {settings.public_url}


# --- turns ---------------------------------------------------------------------------------


async def test_a_message_is_acked_with_its_seq_and_answered(chat_server):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, ready):
        assert ready == {"type": "ready", "conversation_id": None, "last_seq": 0,
                         "consented": False, "policy_url": None}  # fmt: skip
        await send(ws, {"type": "message", "client_msg_id": "m1", "text": "what is my balance"})
        frames = await recv_until(ws, lambda fs: _acked(fs, "m1"))
        # the bot types from the start of the turn until its answers are out
        assert frames[0] == {"type": "typing", "from": "bot", "name": None, "on": True}
        assert frames[-1] == {"type": "typing", "from": "bot", "name": None, "on": False}
        ack = next(f for f in frames if f["type"] == "ack")
        bot = [f for f in frames if f["type"] == "message" and f["from"] == "bot"]
        assert all(f["seq"] > ack["seq"] for f in bot)
        # anonymous: the balance needs the customer first, asked politely
        assert bot[0]["kind"] == "text"
        assert bot[0]["text"].startswith("For this, please sign in")
        customer = next(f for f in frames if f["type"] == "message" and f["from"] == "customer")
        assert customer == {"type": "message", "seq": ack["seq"], "from": "customer",
                            "kind": "text", "text": "what is my balance",
                            "client_msg_id": "m1"}  # fmt: skip


async def test_the_tariffs_button_works_anonymously(chat_server, session):
    from tests.factories import make_tariff

    await make_tariff(session, name="Fast 500")
    await session.commit()
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        await send(ws, {"type": "message", "client_msg_id": "t1",
                        "payload": "v1:list_tariffs:start:"})  # fmt: skip
        frames = await recv_until(ws, lambda fs: _acked(fs, "t1"))
        texts = " ".join(f.get("text") or "" for f in frames if f["type"] == "message")
        assert "Fast 500" in texts


async def test_the_same_client_msg_id_runs_once(chat_server):
    async with chat_server() as server, server.chat() as (ws, _, _ready):
        frame = {"type": "message", "client_msg_id": "same-1", "text": "hello"}
        await send(ws, frame)
        first = await recv_until(ws, lambda fs: _acked(fs, "same-1"))
        count = await _message_count(server.resources)
        await send(ws, frame)
        again = await recv_until(ws, lambda fs: any(f.get("on") is False for f in fs))
        assert [f for f in again if f["type"] != "typing"] == [
            next(f for f in first if f["type"] == "ack")
        ]
        assert await quiet(ws) == []  # nothing new to send: nothing ran
        assert await _message_count(server.resources) == count


async def test_resume_after_a_reconnect_loses_and_repeats_nothing(chat_server):
    async with chat_server() as server:
        async with server.chat() as (ws, started, _ready):
            await send(ws, {"type": "message", "client_msg_id": "r1", "text": "hello"})
            seen = await recv_until(ws, lambda fs: _acked(fs, "r1"))
            last_seen = max(f["seq"] for f in seen if f["type"] == "message")
            # the socket drops; meanwhile another tab of the same visitor talks on
        async with server.chat(started["visitor_token"]) as (other, _, _ready):
            await send(other, {"type": "message", "client_msg_id": "r2", "text": "thanks"})
            missed = await recv_until(other, lambda fs: _acked(fs, "r2"))
        async with server.chat(started["visitor_token"]) as (ws, _, ready):
            assert ready["conversation_id"] is not None
            assert ready["last_seq"] == max(f["seq"] for f in missed if f["type"] == "message")
            await send(ws, {"type": "resume", "last_seq": last_seen})
            resumed = await recv_until(
                ws, lambda fs: bool(fs) and fs[-1]["seq"] == ready["last_seq"]
            )
        expected = [f["seq"] for f in missed if f["type"] == "message"]
        assert [f["seq"] for f in resumed] == expected
        assert resumed[0]["from"] == "customer" and resumed[0]["client_msg_id"] == "r2"
        # from the start: everything once, in order
        async with server.chat(started["visitor_token"]) as (ws, _, ready):
            await send(ws, {"type": "resume", "last_seq": 0})
            everything = await recv_until(
                ws, lambda fs: bool(fs) and fs[-1]["seq"] == ready["last_seq"]
            )
        seqs = [f["seq"] for f in everything]
        assert seqs == sorted(set(seqs)) and set(expected) <= set(seqs)


async def test_a_message_written_elsewhere_arrives_live(chat_server):
    async with chat_server() as server, server.chat() as (ws, _, _ready):
        await send(ws, {"type": "message", "client_msg_id": "l1", "text": "hello"})
        await recv_until(ws, lambda fs: _acked(fs, "l1"))
        async with server.resources.sessionmaker() as s:
            conv = (await s.scalars(select(ConversationMessage.conversation_id))).first()
        async with unit_of_work(server.resources.sessionmaker) as s:
            await transcript.add_outbound(
                s, conv, [Text(text="Hi, this is Anna")], sender=MessageSender.agent
            )
        await server.resources.redis.publish(EVENTS_CHANNEL.format(conv), "{}")
        frame = await recv(ws)
        assert frame["from"] == "agent" and frame["text"] == "Hi, this is Anna"


async def test_ping_is_answered(chat_server):
    async with chat_server() as server, server.chat() as (ws, _, _ready):
        await send(ws, {"type": "ping"})
        assert await recv(ws) == {"type": "pong"}


async def test_a_silent_socket_is_closed(chat_server):
    async with chat_server(webchat_idle_seconds=5) as server, server.chat() as (ws, _, _r):
        assert await _close_code(ws, seconds=8) == 4408


# --- malformed frames and limits -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "client_msg_id"),
    [
        ("{not json", None),
        (json.dumps({"type": "shout", "text": "hi"}), None),
        (json.dumps({"type": "message", "client_msg_id": "b1"}), "b1"),
        (json.dumps({"type": "message", "client_msg_id": "b2", "text": "x", "payload": "y"}), "b2"),
        (json.dumps({"type": "message", "client_msg_id": "b3", "text": "x", "admin": True}), "b3"),
        (json.dumps({"type": "message", "client_msg_id": "no spaces", "text": "x"}), None),
        (json.dumps({"type": "message", "client_msg_id": "b4", "text": "x" * 2001}), "b4"),
        (json.dumps({"type": "resume", "last_seq": -1}), None),
        (json.dumps({"type": "auth", "session_token": "again"}), None),
        (json.dumps([1, 2]), None),
    ],
)
async def test_a_malformed_frame_gets_an_error_and_changes_nothing(chat_server, raw, client_msg_id):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        before = await _message_count(server.resources)
        await ws.send(raw)
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["code"] == "bad_frame"
        assert frame.get("client_msg_id") == client_msg_id
        assert frame["detail"] == "The message could not be read. Please try again."
        assert await _message_count(server.resources) == before
        await send(ws, {"type": "ping"})  # the socket is still usable
        assert await recv(ws) == {"type": "pong"}


async def test_an_oversize_frame_gets_an_error(chat_server):
    async with chat_server(webchat_max_frame_bytes=1024) as server, server.chat() as (ws, _, _r):
        await send(ws, {"type": "message", "client_msg_id": "big", "text": "я" * 600})
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["code"] == "frame_too_large"
        await ws.send(b"\x00" * 2048)
        assert (await recv(ws))["code"] == "frame_too_large"
        assert await _message_count(server.resources) == 0


async def test_messages_beyond_the_rate_are_refused(chat_server):
    async with chat_server(webchat_messages_per_minute=2) as server, server.chat() as (ws, _, _r):
        for n in range(2):
            await send(ws, {"type": "message", "client_msg_id": f"q{n}", "text": "hello"})
            await recv_until(ws, functools.partial(_acked, client_msg_id=f"q{n}"))
        count = await _message_count(server.resources)
        await send(ws, {"type": "message", "client_msg_id": "q2", "text": "hello"})
        frame = await recv(ws)
        assert frame["code"] == "rate_limited" and frame["client_msg_id"] == "q2"
        assert await _message_count(server.resources) == count


async def test_sockets_per_address_are_limited(chat_server):
    async with chat_server(webchat_connections_per_ip=1) as server, server.chat():
        started = await server.session()
        async with server.socket() as second:
            await send(second, {"type": "auth", "session_token": started["session_token"]})
            assert await _close_code(second) == 4429
    # the slot is handed back when the socket closes
    async with chat_server(webchat_connections_per_ip=1) as server, server.chat() as (_, _s, r):
        assert r["type"] == "ready"


async def test_origin_entries_match_without_trailing_slash(chat_server):
    async with chat_server(widget_origins=[ORIGIN + "/"]) as server, server.chat() as (_, _s, r):
        assert r["type"] == "ready"


class _GoneSocket:
    """A unit stand-in for a Starlette WebSocket whose visitor has left."""

    def __init__(self, client_state: WebSocketState, error: Exception | None = None) -> None:
        self.client_state = client_state
        self.application_state = WebSocketState.CONNECTED
        self.error = error
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(text)


@pytest.mark.parametrize(
    "gone",
    [
        _GoneSocket(WebSocketState.DISCONNECTED),
        _GoneSocket(WebSocketState.CONNECTED, RuntimeError("Cannot call send once closed")),
        _GoneSocket(WebSocketState.CONNECTED, OSError("transport closed")),
    ],
)
async def test_a_send_after_the_visitor_left_ends_the_connection_quietly(gone) -> None:
    """A tab closed mid-turn: the bot's last frames (the typing indicator's "off") end the
    connection as a disconnect, which the socket's loop expects, never as a traceback."""
    connection = ChatConnection.__new__(ChatConnection)
    connection.ws = gone
    with pytest.raises(WebSocketDisconnect):
        await connection.send({"type": "pong"})
    assert gone.sent == []
