"""Consent and typing on /ws/chat (docs/webchat-protocol.md): the `ready` frame says whether the
visitor has consented and where the policy is; `consent` is stored once on the conversation
(created if need be) and audited; `identify` before it is refused and changes nothing. Typing:
the visitor's goes to the conversation's Redis channel (at most one per 2 s), the agent's comes
from it, and the bot types around a turn but not while an agent has the conversation."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from backend.models import AuditEntry, Conversation, ConversationState
from dialogs.handover import EVENTS_CHANNEL
from tests.backend.webchat.conftest import quiet, recv, recv_until, send, turn_done
from tests.factories import access_token_for, make_customer

POLICY = "https://shop.example/privacy"


async def _conversations(server) -> list[Conversation]:
    async with server.resources.sessionmaker() as s:
        return list(await s.scalars(select(Conversation)))


async def _consent_rows(server) -> list[AuditEntry]:
    async with server.resources.sessionmaker() as s:
        query = select(AuditEntry).where(AuditEntry.action == "conversation.consent")
        return list(await s.scalars(query))


# --- consent ---------------------------------------------------------------------------------


async def test_consent_is_stored_once_audited_and_remembered(chat_server):
    async with chat_server(privacy_policy_url=POLICY) as server:
        async with server.chat(locale="en") as (ws, started, ready):
            assert ready["consented"] is False and ready["policy_url"] == POLICY
            assert ready["conversation_id"] is None
            await send(ws, {"type": "consent"})
            assert await recv(ws) == {"type": "consented"}
            [conversation] = await _conversations(server)  # created by the consent
            first = conversation.consented_at
            assert first is not None and conversation.customer_id is None
            await send(ws, {"type": "consent"})  # again: answered, nothing changes
            assert await recv(ws) == {"type": "consented"}
            [again] = await _conversations(server)
            assert again.consented_at == first
            [audited] = await _consent_rows(server)
            assert audited.object_id == str(conversation.id) and audited.actor_user_id is None
            assert audited.ip == "127.0.0.1" and audited.details["policy_url"] == POLICY
        async with server.chat(started["visitor_token"]) as (_ws, _, ready):
            assert ready["consented"] is True
            assert ready["conversation_id"] == conversation.id


async def test_without_a_policy_url_ready_says_null(chat_server):
    async with chat_server() as server, server.chat() as (_ws, _, ready):
        assert ready["policy_url"] is None


async def test_identify_before_consent_is_refused_and_changes_nothing(chat_server, session):
    user, customer = await make_customer(session)
    assert user is not None
    await session.commit()
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        token = access_token_for(server.resources.settings, user, customer_id=customer.id)
        await send(ws, {"type": "message", "client_msg_id": "c1", "text": "hello"})
        await recv_until(ws, turn_done)
        await send(ws, {"type": "identify", "access_token": token})
        refused = await recv(ws)
        assert refused["type"] == "error" and refused["code"] == "consent_required"
        assert "personal data" in refused["detail"]
        [conversation] = await _conversations(server)
        assert conversation.customer_id is None and conversation.consented_at is None
        # after consent the same token is taken
        await send(ws, {"type": "consent"})
        assert await recv(ws) == {"type": "consented"}
        await send(ws, {"type": "identify", "access_token": token})
        assert (await recv(ws))["type"] == "identified"


async def test_consent_given_in_another_tab_counts(chat_server, session):
    user, customer = await make_customer(session)
    assert user is not None
    await session.commit()
    async with chat_server() as server, server.chat(locale="en") as (ws, started, _ready):
        token = access_token_for(server.resources.settings, user, customer_id=customer.id)
        async with server.chat(started["visitor_token"]) as (other, _, _r):
            await send(other, {"type": "consent"})
            assert await recv(other) == {"type": "consented"}
        await send(ws, {"type": "identify", "access_token": token})
        assert (await recv(ws))["type"] == "identified"


# --- typing ----------------------------------------------------------------------------------


async def _collect(pubsub, seconds: float) -> list[dict]:
    """What the subscribed channel carries within `seconds`."""
    events = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if message is not None:
            events.append(json.loads(message["data"]))
    return events


async def test_the_visitors_typing_reaches_the_conversation_channel(chat_server):
    async with chat_server() as server, server.chat() as (ws, _, _ready):
        await send(ws, {"type": "typing"})  # no conversation yet: dropped, no error
        assert await quiet(ws) == []
        await send(ws, {"type": "message", "client_msg_id": "t1", "text": "hello"})
        await recv_until(ws, turn_done)
        [conversation] = await _conversations(server)
        pubsub = server.resources.redis.pubsub()
        await pubsub.subscribe(EVENTS_CHANNEL.format(conversation.id))
        try:
            await pubsub.get_message(timeout=1)  # the subscription's confirmation
            for _ in range(3):  # within 2 s: one counts, the rest are dropped
                await send(ws, {"type": "typing"})
            within = await _collect(pubsub, 1.5)
            await asyncio.sleep(0.6)  # 2 s after the first
            await send(ws, {"type": "typing"})
            later = await _collect(pubsub, 1.0)
        finally:
            await pubsub.aclose()
        typing = {"type": "typing", "conversation_id": conversation.id, "from": "customer",
                  "name": None}  # fmt: skip
        assert within == [typing] and later == [typing]
        assert await quiet(ws) == []  # the visitor does not see their own typing, nor errors


async def test_the_agents_typing_is_shown_to_the_visitor(chat_server):
    async with chat_server() as server, server.chat() as (ws, _, _ready):
        await send(ws, {"type": "message", "client_msg_id": "a1", "text": "hello"})
        await recv_until(ws, turn_done)
        [conversation] = await _conversations(server)
        event = {"type": "typing", "conversation_id": conversation.id, "from": "agent",
                 "name": "Anna"}  # fmt: skip
        await server.resources.redis.publish(
            EVENTS_CHANNEL.format(conversation.id), json.dumps(event)
        )
        assert await recv(ws) == {"type": "typing", "from": "agent", "name": "Anna", "on": True}
        await server.resources.redis.publish(
            EVENTS_CHANNEL.format(conversation.id), json.dumps({**event, "on": False})
        )
        assert await recv(ws) == {"type": "typing", "from": "agent", "name": "Anna", "on": False}


async def test_the_bot_does_not_type_while_an_agent_has_the_conversation(chat_server):
    async with chat_server() as server, server.chat() as (ws, started, _ready):
        await send(ws, {"type": "message", "client_msg_id": "h1", "text": "hello"})
        await recv_until(ws, turn_done)
        async with server.resources.sessionmaker() as s:
            conversation = (await s.scalars(select(Conversation))).one()
            conversation.state = ConversationState.agent
            await s.commit()
    # a new socket reads the state at its start
    async with chat_server() as server, server.chat(started["visitor_token"]) as (ws, _, _r):
        await send(ws, {"type": "message", "client_msg_id": "h2", "text": "are you there"})
        frames = await recv_until(ws, lambda fs: any(f["type"] == "ack" for f in fs))
        frames += await quiet(ws, 0.5)
        assert not [f for f in frames if f["type"] == "typing"], frames
