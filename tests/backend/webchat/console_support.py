"""Helpers of the agent console API tests: conversations brought to the queue by the real engine
(over the keyword parser of the engine tests), claimed through the API, and a listener on the
Redis channels the API announces on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import AuditEntry, Conversation
from backend.state import Resources
from dialogs.engine import Engine
from tests.dialogs.engine.conftest import Chat, KeywordParser

AGENT = "/api/v1/agent"
CONV = f"{AGENT}/conversations"


async def queued(
    resources: Resources,
    session: AsyncSession,
    *,
    customer_id: int | None = None,
    chat_id: str = "100",
    channel: str = "telegram",
    locale: str = "en",
) -> tuple[Chat, int]:
    """A conversation that asked for a person; (the chat, its id)."""
    chat = Chat(
        Engine(resources, KeywordParser()),
        channel=channel,
        chat_id=chat_id,
        customer_id=customer_id,
        locale=locale,
    )
    await chat.say("agent please")
    conv_id = await session.scalar(
        select(Conversation.id).where(
            Conversation.channel == channel, Conversation.chat_id == chat_id
        )
    )
    assert conv_id is not None
    return chat, conv_id


async def claim(client: AsyncClient, headers: dict[str, str], conv_id: int) -> None:
    r = await client.post(f"{CONV}/{conv_id}/claim", headers=headers)
    assert r.status_code == 200, r.text


async def audit_actions(session: AsyncSession, action: str) -> list[AuditEntry]:
    session.expire_all()
    rows = await session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    )
    return list(rows.all())


class Listener:
    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub

    async def events(self, seconds: float = 1.0) -> list[tuple[str, dict[str, Any]]]:
        """What arrived within `seconds` of quiet: (channel, event)."""
        got: list[tuple[str, dict[str, Any]]] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            msg = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if msg is None:
                continue
            channel = msg["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            got.append((channel, json.loads(msg["data"])))
        return got


@asynccontextmanager
async def listening(resources: Resources, *channels: str) -> AsyncIterator[Listener]:
    pubsub = resources.redis.pubsub()
    await pubsub.subscribe(*channels)
    try:
        yield Listener(pubsub)
    finally:
        await pubsub.aclose()
