"""The admin API of network incidents: roles, validation, and the notices written once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from backend.models import Outage, OutageStatus, Role
from backend.network import service as network
from tests.backend.network.conftest import audit_actions, outbox_rows
from tests.factories import make_customer

URL = "/api/v1/network/outages"


async def _customers(session):
    _, on_node = await make_customer(session, with_user=False, network_area="a1", network_node="n1")
    _, in_area = await make_customer(session, with_user=False, network_area="a1", network_node="n2")
    _, elsewhere = await make_customer(
        session, with_user=False, network_area="a2", network_node="n9"
    )
    await session.commit()
    # ids, not rows: the checks below expire the session
    return on_node.id, in_area.id, elsewhere.id


async def test_roles(client, as_staff, as_customer):
    _, customer = await as_customer()
    _, agent = await as_staff(Role.agent)
    _, admin_without_2fa = await as_staff(Role.admin, mfa=False)
    body = {"title": "OLT n1", "node": "n1"}
    assert (await client.post(URL, json=body)).status_code == 401
    for headers in (customer, agent):
        r = await client.post(URL, json=body, headers=headers)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = await client.post(URL, json=body, headers=admin_without_2fa)
    assert r.status_code == 403 and r.json()["error"] == "mfa_required"
    # staff read; customers do not
    assert (await client.get(URL, headers=agent)).status_code == 200
    assert (await client.get(URL, headers=customer)).status_code == 403


async def test_validation_changes_nothing(client, session, as_staff):
    _, admin = await as_staff(Role.admin)
    bad_bodies = [
        {"title": "nowhere"},  # neither area nor node
        {"title": "", "node": "n1"},
        {"title": "x" * 201, "node": "n1"},
        {"title": "two\nlines", "node": "n1"},
        {"title": "NUL", "node": "n\x001"},
        {"title": "naive", "node": "n1", "expected_fix_at": "2026-03-01T12:00:00"},
        {"title": "extra", "node": "n1", "status": "resolved"},
        {"title": "long code", "node": "n" * 65},
    ]
    for body in bad_bodies:
        r = await client.post(URL, json=body, headers=admin)
        assert r.status_code == 422, body
        assert r.json()["error"] == "validation_error"
    assert await session.scalar(select(func.count()).select_from(Outage)) == 0
    r = await client.get(URL, params={"status": "closed"}, headers=admin)
    assert r.status_code == 422
    for path in (f"{URL}/0", f"{URL}/{2**63}"):
        assert (await client.get(path, headers=admin)).status_code == 422
    r = await client.get(f"{URL}/999", headers=admin)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_open_update_resolve_tells_each_customer_once(client, session, as_staff):
    on_node, in_area, elsewhere = await _customers(session)
    _, admin = await as_staff(Role.admin)
    fix = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    r = await client.post(
        URL,
        json={"title": "OLT n1", "node": "n1", "expected_fix_at": fix.isoformat()},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    node_outage = r.json()
    assert node_outage["status"] == "open" and node_outage["notified"] == 1
    assert node_outage["expected_fix_at"] == "2026-03-01T16:00:00Z"
    started = await outbox_rows(session, "outage.started")
    assert started == [("outage.started", on_node, node_outage["id"])]

    # an area-wide incident: the customer on n1 already knows of one, so only n2 is told
    r = await client.post(URL, json={"title": "Район a1", "area": "a1"}, headers=admin)
    area_outage = r.json()
    assert r.status_code == 201 and area_outage["notified"] == 1
    assert await outbox_rows(session, "outage.started") == [
        ("outage.started", on_node, node_outage["id"]),
        ("outage.started", in_area, area_outage["id"]),
    ]

    r = await client.patch(
        f"{URL}/{node_outage['id']}",
        json={"title": "OLT n1: fibre cut", "expected_fix_at": None},
        headers=admin,
    )
    assert r.status_code == 200
    assert r.json()["title"] == "OLT n1: fibre cut" and r.json()["expected_fix_at"] is None
    r = await client.patch(f"{URL}/{node_outage['id']}", json={}, headers=admin)
    assert r.status_code == 422
    r = await client.patch(f"{URL}/{node_outage['id']}", json={"title": None}, headers=admin)
    assert r.status_code == 422

    r = await client.get(URL, params={"status": "open"}, headers=admin)
    assert [o["id"] for o in r.json()["items"]] == [area_outage["id"], node_outage["id"]]

    # n1's incident ends while the area's goes on: its customer hears the end with the area's
    r = await client.post(f"{URL}/{node_outage['id']}/resolve", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved" and r.json()["notified"] == 0
    assert await outbox_rows(session, "outage.resolved") == []
    r = await client.post(f"{URL}/{node_outage['id']}/resolve", headers=admin)
    assert r.status_code == 409 and r.json()["error"] == "outage_not_open"
    r = await client.patch(f"{URL}/{node_outage['id']}", json={"title": "late"}, headers=admin)
    assert r.status_code == 409 and r.json()["error"] == "outage_not_open"

    r = await client.post(f"{URL}/{area_outage['id']}/resolve", headers=admin)
    assert r.status_code == 200 and r.json()["notified"] == 2
    resolved = await outbox_rows(session, "outage.resolved")
    assert sorted(c for _, c, _ in resolved) == sorted([on_node, in_area])
    assert elsewhere not in {c for _, c, _ in await outbox_rows(session)}

    r = await client.get(URL, params={"status": "resolved"}, headers=admin)
    assert {o["id"] for o in r.json()["items"]} == {node_outage["id"], area_outage["id"]}
    actions = await audit_actions(session)
    assert [a for a, _ in actions].count("outage.open") == 2
    assert [a for a, _ in actions].count("outage.resolve") == 2
    assert ("outage.update", "admin") in actions


async def test_a_customer_who_asked_hears_the_end(client, session, as_staff):
    on_node, in_area, _ = await _customers(session)
    _, admin = await as_staff(Role.admin)
    r = await client.post(URL, json={"title": "OLT n2", "node": "n2"}, headers=admin)
    outage_id = r.json()["id"]
    # someone not on n2 who asked the bot (e.g. a neighbour's contract) hears the end too
    await network.subscribe_to_fix(session, outage_id, on_node)
    await session.commit()
    r = await client.post(f"{URL}/{outage_id}/resolve", headers=admin)
    assert r.json()["notified"] == 2
    assert sorted(c for _, c, _ in await outbox_rows(session, "outage.resolved")) == sorted(
        [on_node, in_area]
    )
    outage = await session.get(Outage, outage_id)
    assert outage is not None and outage.status is OutageStatus.resolved
    assert outage.resolved_at is not None
    assert outage.resolved_at > datetime.now(UTC) - timedelta(minutes=1)
