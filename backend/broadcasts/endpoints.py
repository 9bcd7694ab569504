"""Broadcasts over HTTP (docs/broadcasts.md), admins only: count a segment, send to it now or
at a time, follow the progress, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from backend import idempotency
from backend.broadcasts import service
from backend.broadcasts.errors import BroadcastAlreadySent, BroadcastNotFound, InvalidBroadcast
from backend.broadcasts.schemas import (
    BroadcastDetail,
    BroadcastIn,
    BroadcastList,
    BroadcastOut,
    PreviewIn,
    PreviewOut,
)
from backend.clock import business_today, utcnow
from backend.deps import CurrentAdmin, ResourcesDep, SessionDep, SettingsDep, actor_of
from backend.errors import refusals
from backend.idempotency import (
    IdempotencyKeyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
)
from backend.models import Broadcast, BroadcastStatus
from backend.params import CursorQuery, IdPath

router = APIRouter(prefix="/admin/broadcasts", tags=["admin"])

OptionalIdempotencyKey = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        description="Optional: a repeat with the same key and body answers with the first "
        "broadcast instead of creating a second (a double click never sends twice).",
    ),
]


async def _detail(session: AsyncSession, broadcast: Broadcast) -> BroadcastDetail:
    out = BroadcastOut.model_validate(broadcast)
    return BroadcastDetail(**out.model_dump(), progress=await service.progress(session, broadcast))


@router.post("/preview", responses=refusals(InvalidBroadcast))
async def preview(
    data: PreviewIn, _: CurrentAdmin, session: SessionDep, settings: SettingsDep
) -> PreviewOut:
    """How many customers the segment reaches now; with `marketing`, only those who opted in.
    For a `contracts` segment, also the numbers no customer has. Changes nothing."""
    found = await service.preview(session, data.segment, data.marketing, business_today(settings))
    return PreviewOut(recipients=found.recipients, unknown_contracts=found.unknown_contracts)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BroadcastDetail,
    responses=refusals(
        InvalidBroadcast,
        IdempotencyKeyInvalid,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
    ),
)
async def create_broadcast(
    data: BroadcastIn,
    principal: CurrentAdmin,
    session: SessionDep,
    settings: SettingsDep,
    key: OptionalIdempotencyKey = None,
) -> BroadcastDetail | JSONResponse:
    """Schedule a broadcast (`scheduled_at` absent: now). Its messages are queued when it is
    due, one per recipient, below the customers' own notices; follow them with
    `GET /{id}`. Audited (`broadcast.create`)."""

    async def action() -> BroadcastDetail:
        broadcast = await service.create(
            session,
            data,
            default_locale=settings.default_locale,
            actor=actor_of(principal),
            now=utcnow(),
        )
        return await _detail(session, broadcast)

    if key is None:
        return await action()
    return await idempotency.run(
        session,
        user_id=principal.user_id,
        key=key,
        endpoint="broadcasts.create",
        request=data,
        action=action,
        status_code=status.HTTP_201_CREATED,
    )


@router.get("")
async def list_broadcasts(
    _: CurrentAdmin,
    session: SessionDep,
    status: Annotated[BroadcastStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: CursorQuery = None,
) -> BroadcastList:
    """Broadcasts, the newest first (without their progress: `GET /{id}` counts it)."""
    rows = await service.list_broadcasts(session, status, limit, before_id)
    return BroadcastList(
        items=[BroadcastOut.model_validate(b) for b in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )


@router.get("/{broadcast_id}", responses=refusals(BroadcastNotFound))
async def get_broadcast(
    broadcast_id: IdPath, _: CurrentAdmin, session: SessionDep
) -> BroadcastDetail:
    """The broadcast and its progress: of the messages queued, how many are pending, sent on
    a channel, failed (dead letters), skipped (no delivery: no reachable channel or the
    customer's preferences) and cancelled."""
    return await _detail(session, await service.get(session, broadcast_id))


@router.post("/{broadcast_id}/cancel", responses=refusals(BroadcastNotFound, BroadcastAlreadySent))
async def cancel_broadcast(
    broadcast_id: IdPath, principal: CurrentAdmin, res: ResourcesDep
) -> BroadcastDetail:
    """Cancel a scheduled broadcast, or stop a sending one: its messages not yet taken by the
    worker are never sent (those being sent at that moment go on). Cancelling again changes
    nothing; a sent broadcast is 409 `conflict`. Audited (`broadcast.cancel`)."""
    async with service.changing_broadcasts(res.sessionmaker) as session:
        broadcast, _ = await service.cancel(session, broadcast_id, actor_of(principal), utcnow())
        return await _detail(session, broadcast)
