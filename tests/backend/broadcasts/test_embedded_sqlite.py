"""The embedded default runs on SQLite: the same fan-out (its JSON payload, the spread of
`available_at` kept as text), preview, progress and cancellation."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from httpx import ASGITransport, AsyncClient
from sqlalchemy import select

from backend.app import create_app
from backend.broadcasts import tasks
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from backend.migrate import upgrade
from backend.models import Broadcast, OutboxMessage, OutboxStatus, Role
from tests.backend.broadcasts.conftest import URL, body
from tests.factories import make_customer, signed_in_user


async def test_broadcast_on_sqlite(tmp_path, resources):
    settings = Settings(
        app_env="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'broadcasts.db'}",
        redis_url=resources.settings.redis_url,
        run_worker=False,
        seed_demo=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    engine = create_engine(settings)
    await upgrade(engine)
    res = dataclasses.replace(
        resources, settings=settings, engine=engine, sessionmaker=create_sessionmaker(engine)
    )
    try:
        async with res.sessionmaker() as s:
            opted = []
            for n in range(5):
                _, customer = await make_customer(s, with_user=False, network_area="a1")
                if n % 2 == 0:
                    customer.notification_preferences = {
                        **customer.notification_preferences,
                        "marketing": True,
                    }
                    opted.append(customer.id)
            await make_customer(s, with_user=False, network_area="a2")
            _, admin = await signed_in_user(s, settings, Role.admin)
            await s.commit()
        app = create_app(settings, resources=res, roles=[])
        transport = ASGITransport(app=app, client=("10.0.0.9", 41000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            segment = {"type": "area", "area": "a1"}
            r = await client.post(
                f"{URL}/preview", json={"segment": segment, "marketing": True}, headers=admin
            )
            assert r.json() == {"recipients": 3, "unknown_contracts": []}
            r = await client.post(
                URL,
                json=body(segment=segment, marketing=True, rate_per_second=4),
                headers=admin,
            )
            assert r.status_code == 201, r.text
            broadcast_id = r.json()["id"]

            report = await tasks.run_due(res, chunk=2)
            assert report.queued == 3 and report.fanned_out == [broadcast_id]
            assert (await tasks.run_due(res, chunk=2)).queued == 0
            async with res.sessionmaker() as s:
                rows = list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
                started = (await s.get(Broadcast, broadcast_id)).started_at
            assert [r.payload for r in rows] == [
                {"customer_id": c, "broadcast_id": broadcast_id, "marketing": True} for c in opted
            ]
            assert [r.dedup_key for r in rows] == [f"broadcast:{broadcast_id}:{c}" for c in opted]
            assert all(r.priority == 10 and r.status is OutboxStatus.pending for r in rows)
            assert all(isinstance(r.available_at, datetime) for r in rows)
            # SQLite's strftime counts in milliseconds
            offsets = [(r.available_at - started).total_seconds() for r in rows]
            assert [round(x, 3) for x in offsets] == [0, 0.25, 0.5]

            r = await client.post(f"{URL}/{broadcast_id}/cancel", headers=admin)
            assert r.status_code == 200
            assert r.json()["progress"] == {
                "queued": 3,
                "pending": 0,
                "sent": 0,
                "failed": 0,
                "skipped": 0,
                "cancelled": 3,
            }
    finally:
        await engine.dispose()
