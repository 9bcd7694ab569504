"""The process's one Redis subscriber (backend/webchat/live.py) against the test Redis: fan-out
to the subscribers of a channel and of `conv:*`, `agents:events`, a slow subscriber told to
resync, a dropped Redis connection survived (with a resync), and the chat sockets on it (no
subscription of their own; a ping still catches up when an event is missed)."""

from __future__ import annotations

import asyncio
import json
import uuid

import redis.asyncio as aioredis
from sqlalchemy import select

from backend.db import unit_of_work
from backend.models import ConversationMessage, MessageSender
from backend.webchat.live import AGENTS, CONVERSATIONS, RESYNC, LiveHub
from dialogs import transcript
from dialogs.handover import EVENTS_CHANNEL
from dialogs.types import Text
from tests.backend.webchat.conftest import recv, recv_until, send, turn_done

# Conversation ids far from the tests' own (other test processes share the Redis server).
BASE = 9_000_000_000 + uuid.uuid4().int % 1_000_000_000


async def _next(subscription, seconds: float = 3) -> dict:
    return await asyncio.wait_for(subscription.get(), seconds)


async def _started(redis) -> LiveHub:
    hub = LiveHub(redis)
    await hub.start()
    await asyncio.wait_for(hub.ready.wait(), 5)
    return hub


async def test_events_fan_out_to_the_channels_subscribers(resources):
    redis = resources.redis
    hub = await _started(redis)
    try:
        channel = EVENTS_CHANNEL.format(BASE)
        async with (
            hub.subscribe(channel) as first,
            hub.subscribe(channel) as second,
            hub.subscribe(CONVERSATIONS) as every,
            hub.subscribe(EVENTS_CHANNEL.format(BASE + 1)) as other,
            hub.subscribe(AGENTS) as agents,
        ):
            event = {"type": "agent_action", "conversation_id": BASE}
            await redis.publish(channel, json.dumps(event))
            assert await _next(first) == event
            assert await _next(second) == event
            assert await _next(every) == event
            await redis.publish(channel, "not json")  # dropped, never delivered
            queue_event = {"type": "queue", "event": "waiting_agent", "conversation_id": BASE}
            await redis.publish(AGENTS, json.dumps(queue_event))
            assert await _next(agents) == queue_event
            assert other.queue.empty() and first.queue.empty()
            assert hub.subscriber_count() == 5
        assert hub.subscriber_count() == 0
    finally:
        await hub.stop()


async def test_a_subscriber_that_falls_behind_is_told_to_resync(resources):
    hub = await _started(resources.redis)
    try:
        channel = EVENTS_CHANNEL.format(BASE + 2)
        async with hub.subscribe(channel, maxsize=2) as slow:
            for n in range(3):
                await resources.redis.publish(channel, json.dumps({"n": n}))
            await asyncio.sleep(0.3)
            assert await _next(slow) == RESYNC
            assert slow.queue.empty()
    finally:
        await hub.stop()


async def test_the_hub_survives_a_dropped_redis_connection(resources, settings):
    """Its connection is killed on the server; it subscribes again by itself, tells its
    subscribers to re-read (events in between are lost), and delivers what comes next."""
    name = f"pd-live-{uuid.uuid4().hex[:12]}"
    redis = aioredis.from_url(settings.redis_url, decode_responses=True, client_name=name)
    admin = aioredis.from_url(settings.redis_url, decode_responses=True)
    hub = await _started(redis)
    try:
        channel = EVENTS_CHANNEL.format(BASE + 3)
        async with hub.subscribe(channel) as events:
            [client] = [c for c in await admin.client_list() if c.get("name") == name]
            await admin.execute_command("CLIENT", "KILL", "ID", client["id"])
            assert await _next(events, 15) == RESYNC
            await asyncio.wait_for(hub.ready.wait(), 15)
            event = {"type": "agent_action", "conversation_id": BASE + 3}
            delivered = None
            async with asyncio.timeout(15):
                while delivered != event:
                    await admin.publish(channel, json.dumps(event))
                    try:
                        delivered = await _next(events, 0.5)
                    except TimeoutError:
                        continue
            assert hub.reconnects >= 1
    finally:
        await hub.stop()
        await redis.aclose()
        await admin.aclose()


async def test_sockets_share_the_processs_subscriber(chat_server):
    async with chat_server() as server:
        async with server.chat() as (a, _, _r1), server.chat() as (b, _, _r2):
            for ws, msg_id in ((a, "s1"), (b, "s2")):
                await send(ws, {"type": "message", "client_msg_id": msg_id, "text": "hello"})
                await recv_until(ws, turn_done)
            async with server.resources.sessionmaker() as s:
                ids = list(await s.scalars(select(ConversationMessage.conversation_id).distinct()))
            hub: LiveHub = server.app.state.live
            assert hub.subscriber_count() == 2
            # no socket subscribes on its own: the only subscriber is the hub's pattern
            numsub = await server.resources.redis.pubsub_numsub(
                *(EVENTS_CHANNEL.format(i) for i in ids)
            )
            assert all(count == 0 for _, count in numsub)
        await asyncio.sleep(0.2)
        assert server.app.state.live.subscriber_count() == 0


async def test_a_ping_catches_up_what_no_event_announced(chat_server):
    async with chat_server() as server, server.chat() as (ws, _, _ready):
        await send(ws, {"type": "message", "client_msg_id": "p1", "text": "hello"})
        await recv_until(ws, turn_done)
        async with server.resources.sessionmaker() as s:
            conv = (await s.scalars(select(ConversationMessage.conversation_id))).first()
        async with unit_of_work(server.resources.sessionmaker) as s:
            await transcript.add_outbound(
                s, conv, [Text(text="Written, never announced")], sender=MessageSender.agent
            )
        await send(ws, {"type": "ping"})
        assert await recv(ws) == {"type": "pong"}
        frame = await recv(ws)
        assert frame["from"] == "agent" and frame["text"] == "Written, never announced"
