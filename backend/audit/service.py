"""The append-only audit log. Services call `record()` in the same transaction as the change.
Never pass passwords, tokens, codes or card data in `details`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import repository
from backend.context import current_request
from backend.models import AuditEntry, Role

_SECRET_WORDS = ("password", "token", "secret", "code", "card", "otp")


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None
    role: Role | None = None


SYSTEM = Actor(user_id=None, role=None)


def _scrub(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if not any(w in k.lower() for w in _SECRET_WORDS)}


async def record(
    session: AsyncSession,
    action: str,
    actor: Actor | None = None,
    object_type: str | None = None,
    object_id: int | str | None = None,
    **details: Any,
) -> AuditEntry:
    ctx = current_request()
    entry = AuditEntry(
        actor_user_id=actor.user_id if actor else None,
        actor_role=actor.role.value if actor and actor.role else None,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "")[:255] or None,
        details=_scrub(details),
    )
    session.add(entry)
    return entry


async def search(
    session: AsyncSession,
    *,
    actor_user_id: int | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEntry]:
    return await repository.search(
        session,
        actor_user_id=actor_user_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
        limit=limit,
        before_id=before_id,
    )
