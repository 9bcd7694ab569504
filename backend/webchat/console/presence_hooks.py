"""The console's calls into agent presence (backend/webchat/presence.py): going offline when
an agent signs out or their last console socket has been closed for a grace period."""

from __future__ import annotations

import asyncio

from backend.audit.service import Actor
from backend.auth.tokens import Principal
from backend.logging import get_logger
from backend.state import Resources
from backend.webchat import presence

log = get_logger(__name__)

SOCKETS_KEY = "console:sockets:{}"
# A socket refreshes its count's expiry while open; a process that died leaves a count that
# expires after this long, so the agent is not kept "connected" for ever.
SOCKETS_TTL_SECONDS = 120
# Time for a reload or a flaky network to reconnect before the agent counts as gone.
OFFLINE_GRACE_SECONDS = 60.0


class OfflineTimers:
    """One app's pending "offline after the grace period" timers. The app cancels them when it
    shuts down: its agents reconnect to another process, and the presence sweep
    (backend/webchat/presence.py) sends anyone who does not offline in the end."""

    def __init__(self) -> None:
        self.pending: set[asyncio.Task[None]] = set()

    def start(self, resources: Resources, user_id: int, grace: float) -> None:
        task = asyncio.create_task(_offline_later(resources, user_id, grace))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def cancel(self) -> None:
        tasks = list(self.pending)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def offline(resources: Resources, principal: Principal | None, user_id: int = 0) -> list[int]:
    """The agent goes offline (signed out: `principal` is the actor; their sockets all closed:
    the system is); returns the conversations put back to the queue."""
    actor = Actor(principal.user_id, principal.role) if principal is not None else None
    user_id = principal.user_id if principal is not None else user_id
    try:
        return await presence.go_offline(
            resources,
            user_id,
            actor=actor,
            reason="agent_signed_out" if principal is not None else "console_closed",
        )
    except Exception:  # presence is best effort here; the expiry sweep catches up
        log.exception("console.go_offline_failed", user_id=user_id)
        return []


async def socket_opened(resources: Resources, user_id: int) -> None:
    key = SOCKETS_KEY.format(user_id)
    async with resources.redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, SOCKETS_TTL_SECONDS)
        await pipe.execute()


async def socket_alive(resources: Resources, user_id: int) -> None:
    await resources.redis.expire(SOCKETS_KEY.format(user_id), SOCKETS_TTL_SECONDS)


async def socket_closed(
    resources: Resources, user_id: int, grace: float, timers: OfflineTimers
) -> None:
    """One console socket fewer; when none is left, the agent goes offline after `grace`
    seconds unless a socket of theirs opened meanwhile."""
    key = SOCKETS_KEY.format(user_id)
    left = int(await resources.redis.decr(key))
    if left > 0:
        return
    await resources.redis.delete(key)
    timers.start(resources, user_id, grace)


async def _offline_later(resources: Resources, user_id: int, grace: float) -> None:
    await asyncio.sleep(grace)
    try:
        if int(await resources.redis.get(SOCKETS_KEY.format(user_id)) or 0) > 0:
            return
    except Exception:
        return
    await offline(resources, None, user_id)
