"""The embedded default runs on SQLite, which has no advisory locks: the receiver serialises
its writers in the process instead, and concurrent deliveries still open one incident."""

from __future__ import annotations

import asyncio
import dataclasses

from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import select

from backend.app import create_app
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from backend.migrate import upgrade
from backend.models import Outage, OutageStatus, OutboxMessage
from tests.backend.network.conftest import AM_HEADERS, AM_TOKEN, alert, webhook
from tests.factories import make_customer

URL = "/api/v1/network/alertmanager"


async def test_concurrent_deliveries_on_sqlite(tmp_path, resources):
    settings = Settings(
        app_env="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'outages.db'}",
        redis_url=resources.settings.redis_url,
        run_worker=False,
        seed_demo=False,
        alertmanager_token=SecretStr(AM_TOKEN),
        _env_file=None,  # type: ignore[call-arg]
    )
    engine = create_engine(settings)
    await upgrade(engine)
    res = dataclasses.replace(
        resources, settings=settings, engine=engine, sessionmaker=create_sessionmaker(engine)
    )
    try:
        async with res.sessionmaker() as s:
            _, customer = await make_customer(s, with_user=False, network_node="n1")
            await s.commit()
            customer_id = customer.id
        app = create_app(settings, resources=res, roles=[])
        transport = ASGITransport(app=app, client=("10.0.0.9", 41000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            bodies = [webhook(alert(node="n1", fingerprint=f"fp{i}")) for i in range(5)]
            responses = await asyncio.gather(
                *(client.post(URL, json=body, headers=AM_HEADERS) for body in bodies)
            )
            assert [r.status_code for r in responses] == [200] * 5
            assert sum(r.json()["opened"] for r in responses) == 1
            ended = [webhook(alert("resolved", node="n1", fingerprint=f"fp{i}")) for i in range(5)]
            for body in ended:
                r = await client.post(URL, json=body, headers=AM_HEADERS)
                assert r.status_code == 200
            assert r.json()["resolved"] == 1
        async with res.sessionmaker() as s:
            outages = (await s.scalars(select(Outage))).all()
            assert [(o.node, o.status) for o in outages] == [("n1", OutageStatus.resolved)]
            rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
            assert [(r.kind, r.payload["customer_id"]) for r in rows] == [
                ("outage.started", customer_id),
                ("outage.resolved", customer_id),
            ]
    finally:
        await engine.dispose()
