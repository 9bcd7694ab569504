"""The live events of the agent API (docs/agent-console.md, "Live events"), published on Redis
pub/sub so that every process's sockets hear them:

- `conv:{id}` (dialogs.handover.EVENTS_CHANNEL): this conversation changed. The widget's socket
  catches up its transcript; the console refreshes the open conversation.
- `agents:events`: the queue changed (`{"type": "queue", "event", "conversation_id"}`) or an
  agent's presence did (`{"type": "presence", "user_id", "status"}`), for every console.

Events are published after the change is committed (a background task runs after the
response), so whoever reads on an event finds the new rows. A lost event costs only latency:
the widget catches up on its next ping and the console re-reads the queue every 15 s."""

from __future__ import annotations

import json
from typing import Any

from fastapi import BackgroundTasks
from redis.exceptions import RedisError

from backend.logging import get_logger
from backend.redis import Redis
from dialogs.handover import AGENTS_CHANNEL, EVENTS_CHANNEL

log = get_logger(__name__)


# agent action -> the queue event every console hears (a reply changes no queue)
_QUEUE_EVENTS = {
    "claimed": "claimed",
    "released": "released",
    "closed": "closed",
    "transferred": "transferred",
    "requeued": "waiting_agent",
}


async def publish(redis: Redis, channel: str, event: dict[str, Any]) -> None:
    try:
        await redis.publish(channel, json.dumps(event, ensure_ascii=False))
    except RedisError as exc:
        log.warning("console event not published", channel=channel, error=str(exc))


async def announce_now(redis: Redis, conversation_id: int, action: str) -> None:
    """Call only after the change is committed."""
    await publish(
        redis,
        EVENTS_CHANNEL.format(conversation_id),
        {"type": "agent_action", "conversation_id": conversation_id, "action": action},
    )
    queue_event = _QUEUE_EVENTS.get(action)
    if queue_event is not None:
        await publish(
            redis,
            AGENTS_CHANNEL,
            {"type": "queue", "event": queue_event, "conversation_id": conversation_id},
        )


def announce(background: BackgroundTasks, redis: Redis, conversation_id: int, action: str) -> None:
    """`announce_now` after the response, so after the request's commit."""
    background.add_task(announce_now, redis, conversation_id, action)


def announce_event(
    background: BackgroundTasks, redis: Redis, channel: str, event: dict[str, Any]
) -> None:
    background.add_task(publish, redis, channel, event)
