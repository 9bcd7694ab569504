"""Network incidents over HTTP (docs/outages.md): admins open, update and resolve them; staff
list them; Alertmanager's webhook opens and resolves them from alerts labelled `node` or
`area`. Opening tells the affected customers, resolving tells those told of the start and
those who asked (through the outbox, kinds `outage.started` and `outage.resolved`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import ValidationError

from backend.config import Settings
from backend.deps import CurrentAdmin, CurrentStaff, ResourcesDep, SessionDep, actor_of
from backend.errors import NotFound, ValidationFailed, refusals
from backend.models import OutageStatus
from backend.network import service as network
from backend.network.errors import (
    AlertmanagerNotConfigured,
    InvalidAlertmanagerToken,
    InvalidAlertPayload,
    OutageNotOpen,
)
from backend.network.schemas import (
    AlertIn,
    AlertmanagerIn,
    AlertmanagerOut,
    MaintenanceIn,
    MaintenanceOut,
    OutageCreateIn,
    OutageList,
    OutageNotified,
    OutageOut,
    OutageUpdateIn,
)
from backend.params import CursorQuery, IdPath

router = APIRouter(prefix="/network", tags=["network"])

# A webhook call carries every alert of its group; a few MiB is far above any real one.
MAX_BODY = 4 * 1024 * 1024


@router.post("/outages", status_code=status.HTTP_201_CREATED)
async def create_outage(
    data: OutageCreateIn, principal: CurrentAdmin, res: ResourcesDep
) -> OutageNotified:
    """Open an incident and queue the start notice for each affected customer (on the node or
    in the area) who is not already told of another open incident. Audited."""
    async with network.changing_outages(res.sessionmaker) as session:
        outage, told = await network.start_outage(
            session,
            title=data.title,
            description=data.description,
            area=data.area,
            node=data.node,
            expected_fix_at=data.expected_fix_at,
            actor=actor_of(principal),
        )
        out = OutageOut.model_validate(outage)
    return OutageNotified(**out.model_dump(), notified=told)


@router.post(
    "/maintenance", status_code=status.HTTP_201_CREATED, responses=refusals(ValidationFailed)
)
async def announce_maintenance(
    data: MaintenanceIn, principal: CurrentAdmin, session: SessionDep
) -> MaintenanceOut:
    """Announce planned work to the customers on the node or in the area, once each (the same
    place and start again tells nobody twice). Work that starts within 12 hours does not wait
    out quiet hours. Nothing else is stored: when the work begins, open an outage as usual.
    Audited."""
    told = await network.announce_maintenance(
        session,
        title=data.title,
        area=data.area,
        node=data.node,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        actor=actor_of(principal),
    )
    ref = network.maintenance_ref(data.area, data.node, data.starts_at)
    return MaintenanceOut(maintenance=ref, notified=told)


@router.get("/outages")
async def list_outages(
    _: CurrentStaff,
    session: SessionDep,
    status: Annotated[OutageStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: CursorQuery = None,
) -> OutageList:
    """Incidents, the newest first; `status=open` for the current ones."""
    rows = await network.list_outages(session, status, limit, before_id)
    return OutageList(
        items=[OutageOut.model_validate(o) for o in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )


@router.get("/outages/{outage_id}", responses=refusals(NotFound))
async def get_outage(outage_id: IdPath, _: CurrentStaff, session: SessionDep) -> OutageOut:
    return OutageOut.model_validate(await network.get_outage(session, outage_id))


@router.patch("/outages/{outage_id}", responses=refusals(NotFound, OutageNotOpen))
async def update_outage(
    outage_id: IdPath, data: OutageUpdateIn, principal: CurrentAdmin, session: SessionDep
) -> OutageOut:
    """Change the title, description or expected fix time of an open incident (what the bot
    tells customers who ask). Nobody is notified of the change. Audited."""
    changes = data.model_dump(include=data.model_fields_set)
    outage = await network.update_outage(session, outage_id, changes, actor_of(principal))
    return OutageOut.model_validate(outage)


@router.post("/outages/{outage_id}/resolve", responses=refusals(NotFound, OutageNotOpen))
async def resolve_outage(
    outage_id: IdPath, principal: CurrentAdmin, res: ResourcesDep
) -> OutageNotified:
    """Resolve an incident and queue the end notice for each customer told of its start or who
    asked to be told (once each: a retry queues nothing again). Audited."""
    async with network.changing_outages(res.sessionmaker) as session:
        told = await network.resolve_outage(session, outage_id, actor_of(principal))
        out = OutageOut.model_validate(await network.get_outage(session, outage_id))
    return OutageNotified(**out.model_dump(), notified=told)


def _check_token(settings: Settings, request: Request) -> None:
    expected = settings.alertmanager_token
    secret = expected.get_secret_value() if expected is not None else ""
    if not secret:
        # fail closed: anyone could otherwise announce outages to every customer
        raise AlertmanagerNotConfigured()
    auth = request.headers.get("authorization", "")
    given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not given or not hmac.compare_digest(given.encode(), secret.encode()):
        raise InvalidAlertmanagerToken()


async def _payload(request: Request) -> AlertmanagerIn:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidAlertPayload("the body is too large")
    try:
        return AlertmanagerIn.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise InvalidAlertPayload() from exc
    except RecursionError as exc:  # JSON nested deeper than the parser's stack
        raise InvalidAlertPayload("the body is nested too deeply") from exc


def _alert(alert: AlertIn, place: tuple[str, str]) -> network.Alert:
    fingerprint = (
        alert.fingerprint
        or hashlib.sha256(json.dumps(sorted(alert.labels.items())).encode()).hexdigest()[:16]
    )
    starts = alert.startsAt.astimezone(UTC) if alert.startsAt.tzinfo else alert.startsAt
    name = alert.labels.get("alertname") or None
    title = (alert.annotations.get("summary") or name or f"{place[0]} {place[1]}").strip()
    return network.Alert(
        place=place,
        instance=f"{fingerprint}@{starts.isoformat()}",
        status=alert.status,
        title=" ".join(title.split())[:200],
        description=(alert.annotations.get("description") or None),
        name=name[:64] if name else None,
    )


@router.post(
    "/alertmanager",
    responses=refusals(AlertmanagerNotConfigured, InvalidAlertmanagerToken, InvalidAlertPayload),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Alertmanager's webhook JSON (version 4)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def alertmanager(request: Request, res: ResourcesDep) -> AlertmanagerOut:
    """Alertmanager's webhook receiver (`Authorization: Bearer $ALERTMANAGER_TOKEN`; unset,
    503 `alertmanager_not_configured`). Firing alerts labelled `node` (else `area`) open one
    incident per place, announced to its customers; a place firing again within
    OUTAGE_REOPEN_MINUTES of its incident's end reopens it silently; the incident is resolved
    when none of its alerts is firing. A repeated delivery changes nothing. Audited with the
    actor `alertmanager`."""
    _check_token(res.settings, request)
    payload = await _payload(request)
    alerts: list[network.Alert] = []
    ignored = 0
    for alert in payload.alerts:
        place = network.place_of(alert.labels)
        if place is None:
            ignored += 1
        else:
            alerts.append(_alert(alert, place))
    async with network.changing_outages(res.sessionmaker) as session:
        summary = await network.apply_alerts(session, alerts, res.settings.outage_reopen_minutes)
    return AlertmanagerOut(
        opened=summary.opened,
        reopened=summary.reopened,
        updated=summary.updated,
        resolved=summary.resolved,
        unchanged=summary.unchanged,
        ignored=ignored,
        outage_ids=summary.outage_ids,
    )
