"""POST /network/maintenance: admins announce planned work; customers there hear it once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from backend.models import OutboxMessage, Role
from tests.factories import make_customer


async def test_an_admin_announces_planned_work_once(client, session, as_staff):
    await make_customer(session, network_node="olt-7")
    await make_customer(session, network_area="north")
    await session.commit()
    _, admin = await as_staff(Role.admin)
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    body = {
        "title": "Замена коммутатора",
        "node": "olt-7",
        "area": "north",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
    }

    for _ in range(2):
        r = await client.post("/api/v1/network/maintenance", json=body, headers=admin)
        assert r.status_code == 201, r.text
        assert r.json()["notified"] == 2

    rows = list(await session.scalars(select(OutboxMessage)))
    assert [r.kind for r in rows] == ["maintenance.planned"] * 2


async def test_bad_bodies_and_agents_are_refused(client, session, as_staff):
    _, admin = await as_staff(Role.admin)
    _, agent = await as_staff(Role.agent)
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    ok = {"title": "Работы", "node": "olt-7", "starts_at": later}
    assert (
        await client.post("/api/v1/network/maintenance", json=ok, headers=agent)
    ).status_code == 403
    for bad in (
        {**ok, "node": None},
        {**ok, "starts_at": past},
        {**ok, "starts_at": "2026-01-01T00:00:00"},
        {**ok, "ends_at": past},
    ):
        r = await client.post("/api/v1/network/maintenance", json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
    assert list(await session.scalars(select(OutboxMessage))) == []
