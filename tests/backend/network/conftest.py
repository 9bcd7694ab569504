"""An app whose Alertmanager receiver has a token (without one it refuses every call), and
Alertmanager-shaped webhook bodies."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app import create_app
from backend.models import AuditEntry, OutboxMessage
from backend.state import Resources

AM_TOKEN = "alertmanager-test-token"
AM_HEADERS = {"Authorization": f"Bearer {AM_TOKEN}"}


@pytest.fixture
def am_resources(resources: Resources) -> Resources:
    settings = resources.settings.model_copy(
        update={"alertmanager_token": SecretStr(AM_TOKEN), "outage_reopen_minutes": 10}
    )
    return dataclasses.replace(resources, settings=settings)


@pytest.fixture
async def am_client(am_resources: Resources) -> AsyncIterator[AsyncClient]:
    app = create_app(am_resources.settings, resources=am_resources, roles=[])
    transport = ASGITransport(app=app, client=("10.0.0.9", 41000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def alert(
    status: str = "firing",
    *,
    node: str | None = "demo-node-1",
    area: str | None = None,
    name: str = "NodeDown",
    fingerprint: str = "f1",
    starts_at: str = "2026-03-01T10:00:00.000Z",
    summary: str = "OLT demo-node-1 is down",
) -> dict[str, Any]:
    labels = {"alertname": name, "severity": "critical"}
    if node:
        labels["node"] = node
    if area:
        labels["area"] = area
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": summary, "description": "No answer to pings\nsince 10:00"},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-03-01T10:30:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


def webhook(*alerts: dict[str, Any]) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": '{}:{node="demo-node-1"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "provider-desk",
        "groupLabels": {"node": "demo-node-1"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


async def outbox_rows(session: AsyncSession, kind: str | None = None) -> list[tuple[str, int, int]]:
    """(kind, customer id, outage id) of the outage notices queued, in order."""
    session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    rows = await session.scalars(query)
    return [
        (r.kind, r.payload["customer_id"], r.payload["outage_id"])
        for r in rows
        if r.kind.startswith("outage.")
    ]


async def audit_actions(session: AsyncSession) -> list[tuple[str, str | None]]:
    session.expire_all()
    rows = await session.scalars(
        select(AuditEntry).where(AuditEntry.action.like("outage.%")).order_by(AuditEntry.id)
    )
    return [(r.action, r.actor_role) for r in rows]
