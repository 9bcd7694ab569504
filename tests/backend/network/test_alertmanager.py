"""Alertmanager's webhook receiver: refused without a token, 401 with a wrong one, 422 for a
malformed body (all changing nothing); alerts grouped into one incident per node, announced
once, resolved when none fires, reopened silently when the node flaps; repeated and
concurrent deliveries open nothing twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from backend import seed
from backend.models import Customer, Outage, OutageStatus, OutboxMessage
from backend.seed import DEMO_CONTRACT
from tests.backend.network.conftest import (
    AM_HEADERS,
    alert,
    audit_actions,
    outbox_rows,
    webhook,
)
from tests.factories import make_customer

URL = "/api/v1/network/alertmanager"


async def _nothing_changed(session) -> None:
    for model in (Outage, OutboxMessage):
        assert await session.scalar(select(func.count()).select_from(model)) == 0, model
    assert await audit_actions(session) == []


async def _outages(session) -> list[tuple[str | None, str | None, OutageStatus]]:
    session.expire_all()
    rows = await session.scalars(select(Outage).order_by(Outage.id))
    return [(o.node, o.area, o.status) for o in rows]


async def test_refused_without_a_configured_token(client, session):
    # the default settings have no ALERTMANAGER_TOKEN: fail closed, whatever is presented
    for headers in ({}, AM_HEADERS, {"Authorization": "Bearer "}):
        r = await client.post(URL, json=webhook(alert()), headers=headers)
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "alertmanager_not_configured"
    await _nothing_changed(session)


async def test_a_wrong_or_missing_token_is_401(am_client, session):
    await make_customer(session, with_user=False, network_node="demo-node-1")
    await session.commit()
    wrong = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer alertmanager-test-token-and-more"},
        {"Authorization": "Basic YWxlcnRtYW5hZ2VyOnRva2Vu"},
        {"Authorization": "alertmanager-test-token"},
    ]
    for headers in wrong:
        r = await am_client.post(URL, json=webhook(alert()), headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"] == "invalid_token"
    # the token is checked before the body is read
    r = await am_client.post(URL, content=b"{not json", headers={"Authorization": "Bearer x"})
    assert r.status_code == 401
    await _nothing_changed(session)


async def test_a_malformed_payload_is_422_and_changes_nothing(am_client, session):
    await make_customer(session, with_user=False, network_node="demo-node-1")
    await session.commit()
    good = alert()
    bodies: list[bytes | dict] = [
        b"",
        b"{not json",
        b"[1, 2]",
        b'"text"',
        {"version": "4", "status": "firing"},  # no alerts
        {**webhook(), "alerts": "all of them"},
        webhook({**good, "status": "burning"}),
        webhook({**good, "labels": {"node": ["demo-node-1"]}}),
        webhook({**good, "labels": {"node": "demo-node\u00001"}}),
        webhook({**good, "startsAt": "yesterday"}),
        webhook({k: v for k, v in good.items() if k != "startsAt"}),
        webhook({**good, "fingerprint": "f" * 129}),
        {**webhook(good), "alerts": [good, "not an alert"]},
    ]
    for body in bodies:
        if isinstance(body, bytes):
            r = await am_client.post(
                URL, content=body, headers={**AM_HEADERS, "Content-Type": "application/json"}
            )
        else:
            r = await am_client.post(URL, json=body, headers=AM_HEADERS)
        assert r.status_code == 422, body
        assert r.json()["error"] == "validation_error"
    deep = b"[" * 100_000 + b"]" * 100_000
    r = await am_client.post(URL, content=deep, headers=AM_HEADERS)
    assert r.status_code == 422
    await _nothing_changed(session)


async def test_firing_then_resolved_tells_the_demo_customer_once(am_client, session, settings):
    await seed.seed_demo(session, settings)
    await session.commit()
    demo = await session.scalar(select(Customer).where(Customer.contract_number == DEMO_CONTRACT))
    assert demo is not None and demo.network_node == "demo-node-1"
    demo_id = demo.id

    firing = webhook(alert())
    r = await am_client.post(URL, json=firing, headers=AM_HEADERS)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert (summary["opened"], summary["unchanged"], summary["ignored"]) == (1, 0, 0)
    [outage_id] = summary["outage_ids"]
    assert await _outages(session) == [("demo-node-1", None, OutageStatus.open)]
    outage = await session.get(Outage, outage_id)
    assert outage is not None and outage.title == "OLT demo-node-1 is down"
    assert outage.description == "No answer to pings\nsince 10:00"
    assert await outbox_rows(session) == [("outage.started", demo_id, outage_id)]
    started = await session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "outage.started")
    )
    assert started is not None and started.payload["title"] == "OLT demo-node-1 is down"

    # Alertmanager repeats a notification (repeat_interval, a retry after a timeout)
    r = await am_client.post(URL, json=firing, headers=AM_HEADERS)
    assert r.json()["opened"] == 0 and r.json()["unchanged"] == 1
    assert await outbox_rows(session) == [("outage.started", demo_id, outage_id)]
    assert len(await _outages(session)) == 1

    resolved = webhook(alert("resolved"))
    r = await am_client.post(URL, json=resolved, headers=AM_HEADERS)
    assert r.status_code == 200 and r.json()["resolved"] == 1
    assert await _outages(session) == [("demo-node-1", None, OutageStatus.resolved)]
    assert await outbox_rows(session) == [
        ("outage.started", demo_id, outage_id),
        ("outage.resolved", demo_id, outage_id),
    ]
    for body in (resolved, firing):  # the end again, and the old firing late: nothing new
        r = await am_client.post(URL, json=body, headers=AM_HEADERS)
        assert r.json()["unchanged"] == 1 and r.json()["opened"] == r.json()["reopened"] == 0
    assert len(await outbox_rows(session)) == 2
    assert await _outages(session) == [("demo-node-1", None, OutageStatus.resolved)]

    actions = await audit_actions(session)
    assert ("outage.open", "alertmanager") in actions
    assert ("outage.resolve", "alertmanager") in actions
    assert [a for a, _ in actions].count("outage.alert") == 2


async def test_alerts_of_one_node_make_one_incident(am_client, session):
    _, on_node = await make_customer(session, with_user=False, network_node="n1")
    _, other_node = await make_customer(session, with_user=False, network_node="n2")
    _, in_area = await make_customer(session, with_user=False, network_area="south")
    await session.commit()
    ids = (on_node.id, other_node.id, in_area.id)

    down = alert(node="n1", name="NodeDown", fingerprint="a")
    loss = alert(node="n1", name="PacketLoss", fingerprint="b", summary="loss on n1")
    unlabelled = alert(node=None, name="DiskFull", fingerprint="c")
    r = await am_client.post(URL, json=webhook(down, loss, unlabelled), headers=AM_HEADERS)
    assert r.json()["opened"] == 1 and r.json()["ignored"] == 1
    # a later group notification with another alert of the same node
    cpu = alert(node="n1", name="CpuHot", fingerprint="d")
    r = await am_client.post(URL, json=webhook(cpu), headers=AM_HEADERS)
    assert r.json()["opened"] == 0 and r.json()["updated"] == 1
    # and an area alert is an incident of its own
    r = await am_client.post(
        URL, json=webhook(alert(node=None, area="south", fingerprint="e")), headers=AM_HEADERS
    )
    assert r.json()["opened"] == 1
    assert await _outages(session) == [
        ("n1", None, OutageStatus.open),
        (None, "south", OutageStatus.open),
    ]
    told = [c for kind, c, _ in await outbox_rows(session) if kind == "outage.started"]
    assert told == [ids[0], ids[2]]

    # the incident stays open while any of its alerts fires
    resolved_down = {**down, "status": "resolved"}
    resolved_loss = {**loss, "status": "resolved"}
    r = await am_client.post(URL, json=webhook(resolved_down, resolved_loss), headers=AM_HEADERS)
    assert r.json()["resolved"] == 0 and r.json()["updated"] == 1
    assert (await _outages(session))[0][2] is OutageStatus.open
    r = await am_client.post(URL, json=webhook({**cpu, "status": "resolved"}), headers=AM_HEADERS)
    assert r.json()["resolved"] == 1
    assert await _outages(session) == [
        ("n1", None, OutageStatus.resolved),
        (None, "south", OutageStatus.open),
    ]
    ended = [c for kind, c, _ in await outbox_rows(session) if kind == "outage.resolved"]
    assert ended == [ids[0]]


async def test_flapping_reopens_without_a_second_start_notice(am_client, session):
    _, customer = await make_customer(session, with_user=False, network_node="n1")
    await session.commit()
    customer_id = customer.id
    first = alert(node="n1", starts_at="2026-03-01T10:00:00Z")
    r = await am_client.post(URL, json=webhook(first), headers=AM_HEADERS)
    [outage_id] = r.json()["outage_ids"]
    await am_client.post(URL, json=webhook({**first, "status": "resolved"}), headers=AM_HEADERS)

    # the same alert fires again (a new startsAt) a few minutes after the end
    again = alert(node="n1", starts_at="2026-03-01T10:35:00Z")
    r = await am_client.post(URL, json=webhook(again), headers=AM_HEADERS)
    assert r.json()["reopened"] == 1 and r.json()["opened"] == 0
    assert r.json()["outage_ids"] == [outage_id]
    assert await _outages(session) == [("n1", None, OutageStatus.open)]
    outage = await session.get(Outage, outage_id)
    assert outage is not None and outage.resolved_at is None
    r = await am_client.post(URL, json=webhook({**again, "status": "resolved"}), headers=AM_HEADERS)
    assert r.json()["resolved"] == 1
    # one start, one end: the customer told of the start was told of the end
    assert await outbox_rows(session) == [
        ("outage.started", customer_id, outage_id),
        ("outage.resolved", customer_id, outage_id),
    ]

    # long after the end (past OUTAGE_REOPEN_MINUTES) it is a new incident, announced anew
    session.expire_all()
    outage = await session.get(Outage, outage_id)
    assert outage is not None and outage.resolved_at is not None
    outage.resolved_at -= timedelta(minutes=11)
    await session.commit()
    later = alert(node="n1", starts_at="2026-03-01T12:00:00Z")
    r = await am_client.post(URL, json=webhook(later), headers=AM_HEADERS)
    assert r.json()["opened"] == 1 and r.json()["reopened"] == 0
    [new_id] = r.json()["outage_ids"]
    assert new_id != outage_id
    assert (await outbox_rows(session))[-1] == ("outage.started", customer_id, new_id)


async def test_concurrent_deliveries_open_one_incident(am_client, session):
    _, customer = await make_customer(session, with_user=False, network_node="n1")
    await session.commit()
    customer_id = customer.id
    bodies = [webhook(alert(node="n1", fingerprint=f"fp{i}", name=f"Alert{i}")) for i in range(6)]
    bodies += [webhook(alert(node="n1", fingerprint="fp0", name="Alert0"))] * 2
    responses = await asyncio.gather(
        *(am_client.post(URL, json=body, headers=AM_HEADERS) for body in bodies)
    )
    assert [r.status_code for r in responses] == [200] * len(bodies)
    assert sum(r.json()["opened"] for r in responses) == 1
    assert sum(r.json()["unchanged"] for r in responses) == 2
    assert await _outages(session) == [("n1", None, OutageStatus.open)]
    assert [(k, c) for k, c, _ in await outbox_rows(session)] == [("outage.started", customer_id)]
