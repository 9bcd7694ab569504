"""Agent presence (online / away / offline) in Redis, and the requeue of the conversations an
agent leaves behind (docs/agent-console.md, "Presence").

A status is a key `presence:{user_id}` with a TTL of PRESENCE_TTL_SECONDS that the console's
heartbeat refreshes; a missing key is offline. The sorted set `presence:seen` remembers when each
key runs out, so the periodic sweep finds the agents whose console went away without saying so
(a closed browser, a lost network) and does for them what an explicit "offline" does: their
conversations whose customer waits for an answer go back to the queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from redis.exceptions import RedisError

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.logging import get_logger
from backend.periodic import run_every
from backend.redis import Redis
from backend.state import Resources
from backend.webchat.console_events import announce_now, publish
from dialogs import handover
from dialogs.handover import AGENTS_CHANNEL

log = get_logger(__name__)

PRESENCE_TTL_SECONDS = 90
SWEEP_INTERVAL_SECONDS = 30
STATUSES = ("online", "away")
_KEY = "presence:{}"
_SEEN = "presence:seen"
PRESENCE_ACTION = "agent.presence"


def _key(user_id: int) -> str:
    return _KEY.format(user_id)


async def set_status(redis: Redis, user_id: int, status: str) -> None:
    """online | away, for PRESENCE_TTL_SECONDS (the console's heartbeat sets it again)."""
    if status not in STATUSES:
        raise ValueError(f"presence status must be one of {STATUSES}")
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(_key(user_id), status, ex=PRESENCE_TTL_SECONDS)
        pipe.zadd(_SEEN, {str(user_id): time.time() + PRESENCE_TTL_SECONDS})
        await pipe.execute()


async def status_of(redis: Redis, user_id: int) -> str:
    value = await redis.get(_key(user_id))
    return _decode(value) or "offline"


async def statuses(redis: Redis, user_ids: Sequence[int]) -> dict[int, str]:
    """Every id's status; a missing key (or Redis away) is offline."""
    if not user_ids:
        return {}
    try:
        values = await redis.mget([_key(u) for u in user_ids])
    except RedisError as exc:
        log.warning("presence not read", error=str(exc))
        values = [None] * len(user_ids)
    return {u: _decode(v) or "offline" for u, v in zip(user_ids, values, strict=True)}


def _decode(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode()
    return value if isinstance(value, str) and value in STATUSES else None


async def go_offline(
    resources: Resources,
    user_id: int,
    *,
    actor: Actor | None = None,
    reason: str = "agent_offline",
) -> list[int]:
    """Offline now: the key goes, and the conversations the agent holds whose customer waits
    for the agent's answer return to the queue (each audited `conversation.requeued`, the
    customer told, every console alerted). Returns their ids. `actor` None: the system (the
    sweep); the agent's own "offline" passes the agent."""
    async with resources.redis.pipeline(transaction=True) as pipe:
        pipe.delete(_key(user_id))
        pipe.zrem(_SEEN, str(user_id))
        await pipe.execute()
    requeued: list[int] = []
    async with unit_of_work(resources.sessionmaker) as session:
        for conversation_id in await handover.held_awaiting_reply(session, user_id):
            if await handover.requeue(
                session, resources.settings, conversation_id, user_id, actor, reason=reason
            ):
                requeued.append(conversation_id)
    # after the commit: the widget shows the notice, the consoles the queue
    for conversation_id in requeued:
        await announce_now(resources.redis, conversation_id, "requeued")
    await publish(
        resources.redis,
        AGENTS_CHANNEL,
        {"type": "presence", "user_id": user_id, "status": "offline"},
    )
    return requeued


async def sweep(resources: Resources, now: float | None = None) -> dict[int, list[int]]:
    """`go_offline` for every agent whose presence ran out without a goodbye. Several processes
    may sweep at once: the one whose ZREM removes an agent handles that agent. Returns
    agent id -> the conversations requeued."""
    redis = resources.redis
    due = await redis.zrangebyscore(_SEEN, "-inf", now if now is not None else time.time())
    done: dict[int, list[int]] = {}
    for raw in due:
        user_id = int(raw.decode() if isinstance(raw, bytes) else raw)
        if await redis.exists(_key(user_id)):
            continue  # a heartbeat came back meanwhile
        if not await redis.zrem(_SEEN, str(user_id)):
            continue  # another process took it
        async with unit_of_work(resources.sessionmaker) as session:
            await audit.record(
                session, PRESENCE_ACTION, None, "user", user_id, status="offline", reason="expired"
            )
        done[user_id] = await go_offline(resources, user_id, reason="presence_expired")
    return done


async def run_presence_sweep(resources: Resources, stop: asyncio.Event) -> None:
    """Background role of every API process (backend/app.py)."""

    async def tick() -> None:
        found = await sweep(resources)
        if found:
            log.info("presence expired", agents=sorted(found), requeued=found)

    await run_every(stop, SWEEP_INTERVAL_SECONDS, tick, failed="presence sweep failed", quiet=True)
