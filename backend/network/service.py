"""Known network outages: what the "no internet" flow tells a customer, who hears when one
starts and ends, and the incidents opened by admins (the API) or by Alertmanager's alerts
(docs/outages.md); and planned maintenance, announced ahead to the customers it affects
(`announce_maintenance`).

Who hears the end is kept in `outage_subscriptions`: the customers told of the start and those
who asked the bot to be told. A customer hears one start and one end however many incidents
overlap at their place: one already told of another open incident is not told again, and the
end of an incident is kept for the end of the other open one they are told of. Every change of
outages runs under one lock (`changing_outages`), so these checks hold until the commit."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import SYSTEM, Actor
from backend.clock import utcnow
from backend.db import serial_unit_of_work
from backend.errors import NotFound, ValidationFailed
from backend.models import Customer, Outage, OutageStatus
from backend.network import repository
from backend.network.errors import OutageNotOpen

# The audit log's actor of what the alert receiver does (a system actor with a name).
ALERTMANAGER: Final = "alertmanager"
Who = Actor | Literal["alertmanager"] | None


@dataclass(frozen=True)
class OutageInfo:
    id: int
    title: str
    started_at: datetime
    expected_fix_at: datetime | None


async def outage_for_customer(session: AsyncSession, customer: Customer) -> OutageInfo | None:
    outage = await repository.open_outage_for(session, customer.network_area, customer.network_node)
    if outage is None:
        return None
    return OutageInfo(outage.id, outage.title, outage.started_at, outage.expected_fix_at)


async def open_outages(session: AsyncSession, limit: int = 5) -> list[OutageInfo]:
    """The open outages anywhere in the network, for a visitor who has not said who they are."""
    rows = await repository.open_outages(session, limit)
    return [OutageInfo(o.id, o.title, o.started_at, o.expected_fix_at) for o in rows]


async def subscribe_to_fix(
    session: AsyncSession, outage_id: int, customer_id: int, conversation_id: int | None = None
) -> None:
    await repository.subscribe(session, outage_id, customer_id, conversation_id, utcnow())


@asynccontextmanager
async def changing_outages(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A unit of work that opens, reopens or resolves outages, one at a time until its commit.
    PostgreSQL: an advisory transaction lock, across processes. SQLite (the embedded default,
    one process): this process's outage writers take turns (`serial_unit_of_work`)."""
    async with serial_unit_of_work(sessionmaker, "outages") as session:
        await repository.lock_outages(session)
        yield session


async def _audit(
    session: AsyncSession, action: str, who: Who, outage_id: int, **details: Any
) -> None:
    if isinstance(who, str):
        entry = await audit.record(session, action, SYSTEM, "outage", outage_id, **details)
        entry.actor_role = who
    else:
        await audit.record(session, action, who, "outage", outage_id, **details)


async def open_outage(
    session: AsyncSession,
    *,
    title: str,
    area: str | None,
    node: str | None,
    expected_fix_at: datetime | None = None,
    description: str | None = None,
    actor: Who = None,
) -> Outage:
    """Record an open outage without telling anyone (`start_outage` tells the customers)."""
    outage = Outage(
        title=title,
        description=description,
        area=area,
        node=node,
        status=OutageStatus.open,
        started_at=utcnow(),
        expected_fix_at=expected_fix_at,
    )
    session.add(outage)
    await session.flush()
    await _audit(session, "outage.open", actor, outage.id, area=area, node=node)
    return outage


async def announce_start(session: AsyncSession, outage: Outage) -> int:
    """Queue the start notice for each affected customer not told of another open outage, and
    make every affected customer hear the end. Returns how many notices were queued (a retry
    queues none again: the dedup key is per outage and customer)."""
    affected = await repository.affected_customers(session, outage.area, outage.node)
    if not affected:
        return 0
    already_told = await repository.told_elsewhere(session, outage.id, affected)
    await repository.subscribe_many(session, outage.id, affected, utcnow())
    eta = outage.expected_fix_at.isoformat() if outage.expected_fix_at else None
    rows = [
        {
            "kind": "outage.started",
            "payload": {
                "customer_id": customer_id,
                "outage_id": outage.id,
                "title": outage.title,
                "expected_fix_at": eta,
            },
            "dedup_key": f"outage-started:{outage.id}:{customer_id}",
            "available_at": utcnow(),
            "created_at": utcnow(),
        }
        for customer_id in affected
        if customer_id not in already_told
    ]
    await repository.insert_outbox_rows(session, rows)
    return len(rows)


async def start_outage(
    session: AsyncSession,
    *,
    title: str,
    area: str | None,
    node: str | None,
    expected_fix_at: datetime | None = None,
    description: str | None = None,
    actor: Who = None,
) -> tuple[Outage, int]:
    """Open an outage and tell the affected customers; returns it and how many were told.
    Call it inside `changing_outages`."""
    outage = await open_outage(
        session,
        title=title,
        area=area,
        node=node,
        expected_fix_at=expected_fix_at,
        description=description,
        actor=actor,
    )
    told = await announce_start(session, outage)
    await _audit(session, "outage.announce", actor, outage.id, notified=told)
    return outage, told


async def get_outage(session: AsyncSession, outage_id: int) -> Outage:
    outage = await session.get(Outage, outage_id)
    if outage is None:
        raise NotFound("outage not found")
    return outage


async def list_outages(
    session: AsyncSession,
    status: OutageStatus | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[Outage]:
    return await repository.list_outages(session, status, limit, before_id)


async def update_outage(
    session: AsyncSession, outage_id: int, changes: Mapping[str, Any], actor: Who
) -> Outage:
    """Change what the customers and the bot are told (title, description, expected fix)."""
    outage = await session.get(Outage, outage_id, with_for_update=True)
    if outage is None:
        raise NotFound("outage not found")
    if outage.status is not OutageStatus.open:
        raise OutageNotOpen()
    for name in ("title", "description", "expected_fix_at"):
        if name in changes:
            setattr(outage, name, changes[name])
    await _audit(session, "outage.update", actor, outage.id, fields=sorted(changes))
    return outage


async def resolve_outage(session: AsyncSession, outage_id: int, actor: Who = None) -> int:
    """Close the outage and queue the end notice for each customer who hears it (told of the
    start or asked); returns how many. One who will hear the end of another open outage is
    left to that one. Call it inside `changing_outages` (the check of the other outages holds
    until the commit)."""
    outage = await session.get(Outage, outage_id, with_for_update=True)
    if outage is None:
        raise NotFound("outage not found")
    if outage.status is not OutageStatus.open:
        raise OutageNotOpen()
    outage.status = OutageStatus.resolved
    outage.resolved_at = utcnow()
    customers = [sub.customer_id for sub in await repository.subscribers(session, outage.id)]
    elsewhere = await repository.told_elsewhere(session, outage.id, customers)
    # one who asked in a chat hears the end in that chat's language
    languages = await repository.chat_locales(session, outage.id)
    notified = 0
    for customer_id in customers:
        if customer_id in elsewhere:
            continue
        payload: dict[str, Any] = {
            "customer_id": customer_id,
            "outage_id": outage.id,
            "title": outage.title,
        }
        if customer_id in languages:
            payload["locale"] = languages[customer_id]
        await outbox.enqueue(
            session, "outage.resolved", payload, f"outage-resolved:{outage.id}:{customer_id}"
        )
        notified += 1
    await _audit(
        session,
        "outage.resolve",
        actor,
        outage.id,
        notified=notified,
        left_to_others=len(elsewhere),
    )
    return notified


# --- planned maintenance ----------------------------------------------------------------------

MAINTENANCE_KIND: Final = "maintenance.planned"
# Work that starts sooner than this is announced as urgent (the payload's "urgent"): quiet
# hours, a night at most, would otherwise hold the notice until the work has begun.
MAINTENANCE_URGENT_WITHIN = timedelta(hours=12)


def maintenance_ref(area: str | None, node: str | None, starts_at: datetime) -> str:
    """What names one piece of planned work: its place and its start. Announcing it again (a
    retried request, a corrected title) tells nobody twice; moving it is a new announcement."""
    start = starts_at.astimezone(UTC).isoformat()
    return hashlib.sha256(f"{area or ''}|{node or ''}|{start}".encode()).hexdigest()[:16]


async def announce_maintenance(
    session: AsyncSession,
    *,
    title: str,
    area: str | None,
    node: str | None,
    starts_at: datetime,
    ends_at: datetime | None = None,
    actor: Who = None,
) -> int:
    """Tell the customers on the node or in the area (either, when both are named) of planned
    work, once each; returns how many customers it addresses. Nothing else is stored (there is
    no table of planned work): when the work begins and the service drops, the outage is
    opened as any other (by an admin or an alert), and the "no internet" flow tells it then."""
    if not area and not node:
        raise ValidationFailed("name the affected area or node (or both)")
    if starts_at.tzinfo is None or (ends_at is not None and ends_at.tzinfo is None):
        raise ValidationFailed("give the times with their offset")
    now = utcnow()
    if starts_at <= now:
        raise ValidationFailed("planned work starts in the future; open an outage instead")
    if ends_at is not None and ends_at <= starts_at:
        raise ValidationFailed("the work must end after it starts")
    ref = maintenance_ref(area, node, starts_at)
    affected = await repository.affected_customers(session, area, node)
    payload: dict[str, Any] = {
        "maintenance": ref,
        "title": title,
        "starts_at": starts_at.astimezone(UTC).isoformat(),
        "ends_at": ends_at.astimezone(UTC).isoformat() if ends_at else None,
    }
    if starts_at - now <= MAINTENANCE_URGENT_WITHIN:
        payload["urgent"] = True
    rows = [
        {
            "kind": MAINTENANCE_KIND,
            "payload": {"customer_id": customer_id, **payload},
            "dedup_key": f"maintenance:{ref}:{customer_id}",
            "available_at": now,
            "created_at": now,
        }
        for customer_id in affected
    ]
    await repository.insert_outbox_rows(session, rows)
    entry = await audit.record(
        session,
        "maintenance.announce",
        SYSTEM if isinstance(actor, str) else actor,
        "maintenance",
        ref,
        area=area,
        node=node,
        starts_at=payload["starts_at"],
        ends_at=payload["ends_at"],
        addressed=len(rows),
    )
    if isinstance(actor, str):
        entry.actor_role = actor
    return len(rows)


# --- Alertmanager ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One alert of a webhook call, reduced to what incidents need. `instance` names one
    firing of it: Alertmanager's fingerprint (its labels) and when it started, so a repeated
    delivery is recognised and a new firing of the same alert is not."""

    place: tuple[str, str]  # ("node", code) or ("area", code)
    instance: str
    status: Literal["firing", "resolved"]
    title: str
    description: str | None
    name: str | None


@dataclass
class AlertSummary:
    opened: int = 0  # incidents
    reopened: int = 0
    updated: int = 0
    resolved: int = 0
    unchanged: int = 0  # alerts already known (a repeated delivery)
    outage_ids: list[int] = field(default_factory=list)


def place_of(labels: Mapping[str, str]) -> tuple[str, str] | None:
    """The node an alert names, else its area; None when it names neither (or a code longer
    than any stored on a customer)."""
    for kind in ("node", "area"):
        code = (labels.get(kind) or "").strip()
        if code:
            return (kind, code) if len(code) <= 64 else None
    return None


def _states(history: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    states: dict[str, str] = {}
    for details in history:
        instance, status = details.get("instance"), details.get("status")
        if isinstance(instance, str) and isinstance(status, str):
            states[instance] = status
    return states


async def apply_alerts(
    session: AsyncSession, alerts: Iterable[Alert], reopen_minutes: int
) -> AlertSummary:
    """Open, reopen, update and resolve incidents from a webhook call's alerts. Call it inside
    `changing_outages`. Firing alerts of one place go into its open incident (or reopen the
    one resolved less than `reopen_minutes` ago, with no second start notice, or open a new
    one, announced); the incident is resolved when a resolved alert leaves none of its alerts
    firing. An incident an admin resolved stays resolved while its alerts keep firing."""
    summary = AlertSummary()
    by_place: dict[tuple[str, str], dict[str, Alert]] = {}
    for alert in alerts:
        by_place.setdefault(alert.place, {})[alert.instance] = alert  # the last word wins
    for place in sorted(by_place):
        await _apply_place(session, place, list(by_place[place].values()), reopen_minutes, summary)
    return summary


async def _apply_place(
    session: AsyncSession,
    place: tuple[str, str],
    alerts: list[Alert],
    reopen_minutes: int,
    summary: AlertSummary,
) -> None:
    kind, code = place
    latest = await repository.open_outage_at(session, kind, code)
    if latest is None:
        latest = await repository.latest_outage_at(session, kind, code)
    states = _states(await repository.alert_history(session, latest.id)) if latest else {}
    firing: list[Alert] = []
    ended: list[Alert] = []
    for alert in alerts:
        known = states.get(alert.instance)
        if alert.status == "firing" and known is None:
            firing.append(alert)
        elif alert.status == "resolved" and known == "firing":
            ended.append(alert)
        else:
            # a repeat, a firing already resolved (a late retry), or the end of a firing
            # never seen: nothing to change
            summary.unchanged += 1
    if not firing and not ended:
        return

    for alert in ended:
        assert latest is not None  # a known firing was recorded on it
        await _record_alert(session, latest.id, alert)
        states[alert.instance] = "resolved"
    target = latest
    if firing:
        if latest is not None and latest.status is OutageStatus.open:
            summary.updated += 1
        elif latest is not None and _within(latest.resolved_at, reopen_minutes):
            # Flapping: the customers heard the start and the end once; nobody is told again.
            latest.status = OutageStatus.open
            latest.resolved_at = None
            await _audit(
                session,
                "outage.reopen",
                ALERTMANAGER,
                latest.id,
                area=latest.area,
                node=latest.node,
            )
            summary.reopened += 1
        else:
            target, _ = await start_outage(
                session,
                title=firing[0].title,
                description=firing[0].description,
                area=code if kind == "area" else None,
                node=code if kind == "node" else None,
                actor=ALERTMANAGER,
            )
            summary.opened += 1
        assert target is not None
        for alert in firing:
            await _record_alert(session, target.id, alert)
            if target is latest:
                states[alert.instance] = "firing"
    elif latest is not None and latest.status is OutageStatus.open:
        # only ends: the incident closes when none of its alerts is firing any more
        if "firing" in states.values():
            summary.updated += 1
        else:
            await resolve_outage(session, latest.id, ALERTMANAGER)
            summary.resolved += 1
    if target is not None:
        summary.outage_ids.append(target.id)


def _within(moment: datetime | None, minutes: int) -> bool:
    return moment is not None and utcnow() - moment <= timedelta(minutes=minutes)


async def _record_alert(session: AsyncSession, outage_id: int, alert: Alert) -> None:
    await _audit(
        session,
        "outage.alert",
        ALERTMANAGER,
        outage_id,
        instance=alert.instance,
        status=alert.status,
        alert=alert.name,
        place=f"{alert.place[0]}:{alert.place[1]}",
    )
