"""Per-conversation flow state: which flow is running, its step, the slots it has collected, the
steps behind it (for "back") and the bot's consecutive misses.

Stored twice, with a revision number: in Redis (`dialogs:flow:{conversation_id}`, with a TTL)
and in the durable column `conversations.flow`, written in the turn's transaction whenever the
state changes. Reading takes the higher revision, so a restart resumes mid-flow, and so does a
flushed Redis; the column costs no extra round trip because the turn's conversation upsert
returns it.

A write that kept the revision (or started again from 0) would let a stale copy win the next
read: a conversation handed back to the bot, or cut from its customer, would resume the old
flow. So nothing writes a `FlowState`: the writers (`dialogs.transcript`, `FlowStore.save`)
take a `Revision`, and `revise()` (or `restart()`) is the one place that makes one, always
above the revision it replaces (tests/dialogs/engine/test_flow_revisions.py holds them to it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from backend.logging import get_logger
from backend.redis import Redis

log = get_logger(__name__)

KEY = "dialogs:flow:{}"
# Long enough for a customer who comes back the next day to a half-filled flow; the database
# copy outlives it anyway.
TTL_SECONDS = 7 * 24 * 3600
MAX_HISTORY = 20


@dataclass(slots=True)
class FlowState:
    flow: str | None = None
    step: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    # (step, slots) before each step change, newest last: "back" pops one
    history: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    misses: int = 0
    rev: int = 0
    # The customer a flow in progress was started for: it never continues for another one, nor
    # for an anonymous turn (docs/dialogs.md, "Persistence of the flow state").
    customer: int | None = None

    @property
    def active(self) -> bool:
        return self.flow is not None and self.step is not None

    def start(self, flow: str, step: str, slots: dict[str, Any] | None = None) -> None:
        self.flow, self.step = flow, step
        self.slots = dict(slots or {})
        self.history = []

    def goto(self, step: str) -> None:
        """Move to `step`, remembering where we were for "back"."""
        if self.step is not None:
            self.history.append((self.step, dict(self.slots)))
            del self.history[:-MAX_HISTORY]
        self.step = step

    def back(self) -> bool:
        """Return to the previous step; False when there is none."""
        if not self.history:
            return False
        self.step, self.slots = self.history.pop()
        return True

    def finish(self) -> None:
        self.flow, self.step, self.slots, self.history = None, None, {}, []

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "step": self.step,
            "slots": self.slots,
            "history": [[s, sl] for s, sl in self.history],
            "misses": self.misses,
            "rev": self.rev,
            "customer": self.customer,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FlowState:
        if not data:
            return cls()
        try:
            return cls(
                flow=data.get("flow"),
                step=data.get("step"),
                slots=dict(data.get("slots") or {}),
                history=[(str(s), dict(sl)) for s, sl in data.get("history") or []],
                misses=int(data.get("misses") or 0),
                rev=int(data.get("rev") or 0),
                customer=None if data.get("customer") is None else int(data["customer"]),
            )
        except (TypeError, ValueError):
            # A state written by an incompatible release: start afresh rather than fail.
            return cls(rev=int(data.get("rev") or 0) if str(data.get("rev", "")).isdigit() else 0)

    def belongs_to_another(self, customer_id: int | None) -> bool:
        """Started for a customer other than the one of this turn (or for one, and this turn
        is anonymous). A state started anonymously (identification pending) may continue for
        the customer who has linked since."""
        return self.customer is not None and self.customer != customer_id

    def same_as(self, other: FlowState) -> bool:
        return self.to_json() | {"rev": 0} == other.to_json() | {"rev": 0}


@dataclass(frozen=True, slots=True)
class Revision:
    """A flow state as it is written to either copy, with its new revision. Made by `revise()`
    and `restart()` only: a writer that takes a Revision cannot keep an old revision."""

    data: dict[str, Any]

    @property
    def rev(self) -> int:
        return int(self.data["rev"])


def revise(state: FlowState, replaces: FlowState) -> Revision:
    """`state`, to be written over `replaces` (what was read: the higher of the two copies),
    with a revision above both."""
    return Revision(state.to_json() | {"rev": max(state.rev, replaces.rev) + 1})


def restart(stored: dict[str, Any] | None) -> Revision:
    """An idle state over the stored one (`conversations.flow`): the flow starts afresh after a
    hand-over or a cut, and no copy of the old one in Redis can win a read."""
    return revise(FlowState(), FlowState.from_json(stored))


class FlowStore:
    """The Redis side. Redis errors degrade to the database copy, never fail a turn."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def load(self, conversation_id: int, durable: dict[str, Any] | None) -> FlowState:
        from_db = FlowState.from_json(durable)
        try:
            raw = await self.redis.get(KEY.format(conversation_id))
        except Exception:  # Redis down: the column is the fallback
            log.warning("dialogs.flow_state.redis_read_failed", conversation_id=conversation_id)
            return from_db
        if not raw:
            return from_db
        try:
            from_redis = FlowState.from_json(json.loads(raw))
        except ValueError:
            return from_db
        return from_redis if from_redis.rev > from_db.rev else from_db

    async def save(self, conversation_id: int, revision: Revision) -> None:
        """After the database copy is committed: Redis gets the same revision."""
        try:
            await self.redis.set(
                KEY.format(conversation_id),
                json.dumps(revision.data, ensure_ascii=False),
                ex=TTL_SECONDS,
            )
        except Exception:  # the database copy is already committed
            log.warning("dialogs.flow_state.redis_write_failed", conversation_id=conversation_id)

    async def forget(self, conversation_id: int) -> None:
        try:
            await self.redis.delete(KEY.format(conversation_id))
        except Exception:
            log.warning("dialogs.flow_state.redis_delete_failed", conversation_id=conversation_id)
