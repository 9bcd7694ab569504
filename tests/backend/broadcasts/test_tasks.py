"""The fan-out of due broadcasts into the outbox, the progress counts, cancelling a broadcast
being sent and marking it sent. The notification worker's side (claiming a row, recording a
delivery) is played by writing its rows as it does (notifications/worker.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from backend.broadcasts import service, tasks
from backend.broadcasts.repository import texts_of
from backend.models import (
    AuditEntry,
    Broadcast,
    BroadcastStatus,
    NotificationDelivery,
    OutboxMessage,
    OutboxStatus,
    Role,
)
from tests.backend.broadcasts.conftest import URL, body, recipients_of, rows_of, town
from tests.backend.broadcasts.test_endpoints import erase


async def _create(client, admin, **overrides) -> int:
    r = await client.post(URL, json=body(**overrides), headers=admin)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _town(session, client, as_staff):
    """The town of conftest with its erased customer erased, and an admin's headers."""
    t = await town(session)
    _, admin = await as_staff(Role.admin)
    await erase(client, admin, t.erased)
    return t, admin


async def _progress(client, admin, broadcast_id: int) -> Any:
    r = await client.get(f"{URL}/{broadcast_id}", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


async def _worker_did(session, row_id: int, status: OutboxStatus, *deliveries: str) -> None:
    """What the worker leaves of a row: its status and a delivery row per channel tried."""
    row = await session.get(OutboxMessage, row_id)
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row_id).values(status=status)
    )
    for n, outcome in enumerate(deliveries):
        session.add(
            NotificationDelivery(
                key=f"{row_id}:telegram:{n}",
                outbox_id=row_id,
                customer_id=row.payload["customer_id"],
                kind=row.kind,
                channel="telegram",
                address=str(n),
                status=outcome,
                attempts=1,
            )
        )
    await session.commit()


async def test_fan_out_writes_one_row_per_recipient_once(client, session, resources, as_staff):
    t, admin = await _town(session, client, as_staff)
    broadcast_id = await _create(client, admin)
    before = datetime.now(UTC)

    # chunks of 3: the four recipients take two transactions
    report = await tasks.run_due(resources, chunk=3)
    assert report.queued == 4 and report.fanned_out == [broadcast_id]
    rows = await rows_of(session, broadcast_id)
    assert sorted(r.payload["customer_id"] for r in rows) == sorted(t.everyone)
    for row in rows:
        customer_id = row.payload["customer_id"]
        assert row.kind == "broadcast.message"
        assert row.payload == {
            "customer_id": customer_id,
            "broadcast_id": broadcast_id,
            "marketing": False,
        }
        assert row.dedup_key == f"broadcast:{broadcast_id}:{customer_id}"
        assert row.priority == 10 and row.status is OutboxStatus.pending
        assert row.attempts == 0 and row.available_at >= before - timedelta(seconds=1)
    # the text is not copied per recipient: the worker reads it once by the broadcast id
    assert await texts_of(session, broadcast_id) == {
        "ru": "Ночью с 2:00 до 4:00 плановые работы.",
        "en": "Maintenance 2-4 am.",
    }
    assert await texts_of(session, broadcast_id + 1) is None

    # a second pass (another process, a retry) writes nothing more
    again = await tasks.run_due(resources, chunk=3)
    assert again.queued == 0 and again.fanned_out == []
    assert len(await rows_of(session, broadcast_id)) == 4

    detail = await _progress(client, admin, broadcast_id)
    assert detail["status"] == "sending" and detail["recipients"] == 4
    assert detail["started_at"] and detail["queued_at"] and detail["finished_at"] is None
    assert detail["progress"] == {
        "queued": 4,
        "pending": 4,
        "sent": 0,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    actions = await session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.object_type == "broadcast")
        .order_by(AuditEntry.id)
    )
    assert list(actions) == ["broadcast.create", "broadcast.start", "broadcast.queued"]


async def test_each_segment_reaches_its_customers(client, session, resources, as_staff):
    t, admin = await _town(session, client, as_staff)
    cases = [
        ({"type": "tariff", "tariff_id": t.basic_tariff}, [t.basic, t.blocked]),
        ({"type": "area", "area": "a1"}, [t.basic, t.fast]),
        ({"type": "node", "node": "n1"}, [t.basic]),
        ({"type": "debtors"}, [t.fast, t.blocked]),
        ({"type": "blocked"}, [t.blocked]),
        ({"type": "contracts", "contracts": ["C-4", "C-2", "nope"]}, [t.fast, t.former]),
    ]
    ids = [await _create(client, admin, segment=segment) for segment, _ in cases]
    await tasks.run_due(resources)
    for broadcast_id, (segment, expected) in zip(ids, cases, strict=True):
        assert sorted(await recipients_of(session, broadcast_id)) == sorted(expected), segment


async def test_marketing_goes_only_to_those_who_opted_in(client, session, resources, as_staff):
    t, admin = await _town(session, client, as_staff)
    broadcast_id = await _create(client, admin, marketing=True, title="Новый тариф")
    await tasks.run_due(resources)
    rows = await rows_of(session, broadcast_id)
    assert sorted(r.payload["customer_id"] for r in rows) == sorted([t.basic, t.blocked])
    assert all(r.payload["marketing"] is True for r in rows)


async def test_a_scheduled_broadcast_waits_for_its_time(client, session, resources, as_staff):
    _, admin = await _town(session, client, as_staff)
    at = datetime.now(UTC) + timedelta(hours=3)
    broadcast_id = await _create(client, admin, scheduled_at=at.isoformat())
    report = await tasks.run_due(resources, now=at - timedelta(seconds=1))
    assert report.queued == 0 and await rows_of(session, broadcast_id) == []
    assert (await _progress(client, admin, broadcast_id))["status"] == "scheduled"
    report = await tasks.run_due(resources, now=at)
    assert report.queued == 4
    detail = await _progress(client, admin, broadcast_id)
    assert detail["status"] == "sending" and detail["started_at"] == at.isoformat().replace(
        "+00:00", "Z"
    )


async def test_rate_spreads_the_rows_over_time(client, session, resources, as_staff):
    _, admin = await _town(session, client, as_staff)
    broadcast_id = await _create(client, admin, rate_per_second=2)
    # the row index runs on across chunks
    await tasks.run_due(resources, chunk=3)
    started = (await session.get(Broadcast, broadcast_id)).started_at
    rows = await rows_of(session, broadcast_id)
    offsets = [(r.available_at - started).total_seconds() for r in rows]
    assert sorted(offsets) == [0.0, 0.5, 1.0, 1.5]


async def test_cancel_stops_the_rows_not_yet_sent(client, session, resources, as_staff):
    t, admin = await _town(session, client, as_staff)
    broadcast_id = await _create(client, admin)
    await tasks.run_due(resources)
    rows = await rows_of(session, broadcast_id)
    await _worker_did(session, rows[0].id, OutboxStatus.done, "sent")
    await _worker_did(session, rows[1].id, OutboxStatus.processing)  # being sent right now

    r = await client.post(f"{URL}/{broadcast_id}/cancel", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["progress"] == {
        "queued": 4,
        "pending": 1,  # the row the worker holds goes on
        "sent": 1,
        "failed": 0,
        "skipped": 0,
        "cancelled": 2,
    }
    stopped = [r for r in await rows_of(session, broadcast_id) if r.last_error]
    assert len(stopped) == 2
    assert all(
        r.status is OutboxStatus.done and r.last_error == "broadcast cancelled" for r in stopped
    )
    # cancelling again, and the fan-out, change nothing
    again = await client.post(f"{URL}/{broadcast_id}/cancel", headers=admin)
    assert again.status_code == 200 and again.json()["progress"] == r.json()["progress"]
    assert (await tasks.run_due(resources)).queued == 0
    assert len(await rows_of(session, broadcast_id)) == len(t.everyone)
    stop = await session.scalar(select(AuditEntry).where(AuditEntry.action == "broadcast.cancel"))
    assert stop.details == {"was": "sending", "stopped": 2, "queued": 4}


async def test_cancel_during_the_fan_out_ends_it(client, session, resources, as_staff):
    _, admin = await _town(session, client, as_staff)
    broadcast_id = await _create(client, admin)
    # one chunk of two, as the role writes it, then the admin cancels before the next one
    async with service.changing_broadcasts(resources.sessionmaker) as s:
        step = await service.fan_out_step(s, datetime.now(UTC), datetime.now(UTC).date(), 2)
    assert step is not None and step.queued == 2 and not step.done
    r = await client.post(f"{URL}/{broadcast_id}/cancel", headers=admin)
    assert r.json()["progress"]["cancelled"] == 2 and r.json()["queued_at"] is None
    assert (await tasks.run_due(resources)).queued == 0
    assert len(await rows_of(session, broadcast_id)) == 2


async def test_progress_and_the_end_of_a_broadcast(client, session, resources, as_staff):
    _, admin = await _town(session, client, as_staff)
    broadcast_id = await _create(client, admin)
    await tasks.run_due(resources)
    a, b, c, d = (r.id for r in await rows_of(session, broadcast_id))
    await _worker_did(session, a, OutboxStatus.done, "sent")
    await _worker_did(session, b, OutboxStatus.done, "failed", "sent")  # the next channel
    await _worker_did(session, c, OutboxStatus.dead, "failed")
    report = await tasks.run_due(resources)
    assert report.finished == []  # one row is still pending
    assert (await _progress(client, admin, broadcast_id))["status"] == "sending"

    await _worker_did(session, d, OutboxStatus.done, "skipped")
    report = await tasks.run_due(resources)
    assert report.finished == [broadcast_id]
    detail = await _progress(client, admin, broadcast_id)
    assert detail["status"] == "sent" and detail["finished_at"]
    assert detail["progress"] == {
        "queued": 4,
        "pending": 0,
        "sent": 2,
        "failed": 1,
        "skipped": 1,
        "cancelled": 0,
    }
    r = await client.post(f"{URL}/{broadcast_id}/cancel", headers=admin)
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    # a broadcast with nobody to reach ends at once
    empty = await _create(client, admin, segment={"type": "node", "node": "nowhere"})
    report = await tasks.run_due(resources)
    assert report.fanned_out == [empty] and report.finished == [empty]
    assert (await session.get(Broadcast, empty)).status is BroadcastStatus.sent


async def test_a_hundred_thousand_recipients(client, session, resources, as_staff):
    """The fan-out is INSERT ... SELECT in chunks: no recipient passes through Python."""
    _, admin = await as_staff(Role.admin)
    await session.execute(
        text(
            "INSERT INTO customers (contract_number, full_name, address, locale, "
            "notification_preferences, created_at) "
            "SELECT 'B-' || n, 'Customer ' || n, '{}', 'ru', "
            "'{\"marketing\": false}', now() FROM generate_series(1, 100000) AS n"
        )
    )
    await session.commit()
    broadcast_id = await _create(client, admin, rate_per_second=500)
    started = time.monotonic()
    report = await tasks.run_due(resources)
    elapsed = time.monotonic() - started
    assert report.queued == 100_000
    count = await session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.kind == "broadcast.message")
    )
    assert count == 100_000
    detail = await _progress(client, admin, broadcast_id)
    assert detail["progress"]["pending"] == 100_000
    last = await session.scalar(select(func.max(OutboxMessage.available_at)))
    first = await session.scalar(select(func.min(OutboxMessage.available_at)))
    assert (last - first).total_seconds() == (100_000 - 1) / 500
    # generous: it takes a few seconds; minutes would mean rows going through Python
    assert elapsed < 120, elapsed


async def test_the_background_role_fans_out(client, session, resources, as_staff):
    _, admin = await _town(session, client, as_staff)
    broadcast_id = await _create(client, admin)
    stop = asyncio.Event()
    role = asyncio.create_task(tasks.run_broadcasts(resources, stop))
    try:
        for _ in range(200):
            if len(await rows_of(session, broadcast_id)) == 4:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(role, 10)
    assert len(await rows_of(session, broadcast_id)) == 4
