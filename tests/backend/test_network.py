from __future__ import annotations

from sqlalchemy import select

from backend.models import OutboxMessage
from backend.network import service as network
from tests.factories import make_customer


async def test_outage_lookup_subscribe_and_resolve(session):
    _, on_node = await make_customer(session, with_user=False, network_area="a1", network_node="n1")
    _, in_area = await make_customer(session, with_user=False, network_area="a1", network_node="n2")
    _, elsewhere = await make_customer(
        session, with_user=False, network_area="a2", network_node="n9"
    )
    outage = await network.open_outage(session, title="Узел n1", area=None, node="n1")
    area_outage = await network.open_outage(session, title="Район a1", area="a1", node=None)
    await session.commit()

    found = await network.outage_for_customer(session, on_node)
    assert found is not None and found.id in (outage.id, area_outage.id)
    found_area = await network.outage_for_customer(session, in_area)
    assert found_area is not None and found_area.id == area_outage.id
    assert await network.outage_for_customer(session, elsewhere) is None

    await network.subscribe_to_fix(session, area_outage.id, in_area.id)
    await network.subscribe_to_fix(session, area_outage.id, in_area.id)  # once only
    await session.commit()
    assert await network.resolve_outage(session, area_outage.id) == 1
    await session.commit()
    rows = list(await session.scalars(select(OutboxMessage)))
    assert [(r.kind, r.payload["customer_id"]) for r in rows] == [("outage.resolved", in_area.id)]
    assert await network.outage_for_customer(session, in_area) is None
