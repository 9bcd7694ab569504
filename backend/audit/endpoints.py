from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.audit import service
from backend.audit.schemas import AuditEntryOut, AuditFilter, AuditPage
from backend.deps import CurrentAdmin, SessionDep

router = APIRouter(tags=["audit"])


@router.get("/audit")
async def search_audit(
    filters: Annotated[AuditFilter, Query()], principal: CurrentAdmin, session: SessionDep
) -> AuditPage:
    """Admins only: the audit log, newest first. Filters combine with AND; `since` is
    inclusive and `until` exclusive. Page backwards with `before_id`."""
    entries = await service.search(
        session,
        actor_user_id=filters.actor_user_id,
        action=filters.action,
        object_type=filters.object_type,
        object_id=filters.object_id,
        since=filters.since,
        until=filters.until,
        limit=filters.limit,
        before_id=filters.before_id,
    )
    return AuditPage(
        items=[AuditEntryOut.model_validate(e) for e in entries],
        next_before_id=entries[-1].id if len(entries) == filters.limit else None,
    )
