from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import AuditEntry


async def search(
    session: AsyncSession,
    *,
    actor_user_id: int | None,
    action: str | None,
    object_type: str | None,
    object_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    before_id: int | None,
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor_user_id is not None:
        query = query.where(AuditEntry.actor_user_id == actor_user_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list((await session.scalars(query)).all())


async def latest(session: AsyncSession, action: str) -> AuditEntry | None:
    """The newest entry of an action (the audit log only grows: the highest id is the newest)."""
    query = select(AuditEntry).where(AuditEntry.action == action)
    return await session.scalar(query.order_by(AuditEntry.id.desc()).limit(1))
