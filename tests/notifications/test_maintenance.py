"""Planned maintenance: announced ahead, once, to the customers on the node or in the area
(backend/network/service.py, announce_maintenance), and delivered by the worker as
`maintenance.planned` in each customer's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from backend.errors import ValidationFailed
from backend.models import AuditEntry, OutboxStatus
from backend.network import service as network
from notifications.channels import ChannelRegistry, FakeChannel
from notifications.worker import deliver_once
from tests.factories import make_customer
from tests.notifications.helpers import rows


@pytest.fixture
def email() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
def channels(email) -> ChannelRegistry:
    return ChannelRegistry({"email": email})


def _in(days: float) -> datetime:
    # a whole hour, so the texts below do not depend on the minute the test runs
    moment = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return moment + timedelta(days=days)


async def test_the_customers_at_the_place_hear_once(resources, session, email, channels):
    await make_customer(session, email="node@example.com", network_node="olt-7")
    await make_customer(
        session, email="area@example.com", locale="en", network_area="north", network_node="x"
    )
    await make_customer(session, email="elsewhere@example.com", network_node="olt-8")
    await session.commit()
    starts, ends = _in(3), _in(3) + timedelta(hours=2)

    for title in ("Замена коммутатора", "Замена коммутатора (уточнено)"):
        # announced twice (a retried request, a corrected title): the customers hear it once
        async with resources.sessionmaker() as s:
            addressed = await network.announce_maintenance(
                s, title=title, area="north", node="olt-7", starts_at=starts, ends_at=ends
            )
            await s.commit()
        assert addressed == 2

    assert await deliver_once(resources, channels) == 2

    sent = {m.to: m for m in email.sent}
    assert set(sent) == {"node@example.com", "area@example.com"}
    local = starts.astimezone(ZoneInfo(resources.settings.billing_timezone))
    ru_start = f"{local:%d.%m.%Y %H:%M}"
    assert sent["node@example.com"].text.startswith(
        f"Плановые работы в сети: Замена коммутатора. С {ru_start} до "
    )
    assert sent["area@example.com"].text.startswith(
        f"Planned network maintenance: Замена коммутатора. From {local:%Y-%m-%d %H:%M} to "
    )
    assert [r.status for r in await rows(session)] == [OutboxStatus.done] * 2
    assert {r.payload.get("urgent") for r in await rows(session)} == {None}
    audited = list(
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "maintenance.announce"))
    )
    assert len(audited) == 2 and audited[0].object_id == network.maintenance_ref(
        "north", "olt-7", starts
    )


async def test_moved_work_is_announced_again(resources, session):
    await make_customer(session, network_node="olt-7")
    await session.commit()
    async with resources.sessionmaker() as s:
        for starts in (_in(3), _in(4)):
            await network.announce_maintenance(
                s, title="Работы", area=None, node="olt-7", starts_at=starts
            )
        await s.commit()
    assert len(await rows(session)) == 2


async def test_work_that_starts_soon_does_not_wait_out_quiet_hours(resources, session):
    await make_customer(session, network_node="olt-7")
    await session.commit()
    async with resources.sessionmaker() as s:
        await network.announce_maintenance(
            s, title="Срочные работы", area=None, node="olt-7", starts_at=_in(0.25)
        )
        await s.commit()
    [row] = await rows(session)
    assert row.payload["urgent"] is True
    assert row.payload["ends_at"] is None


@pytest.mark.parametrize(
    ("place", "starts", "ends", "reason"),
    [
        ((None, None), 1, None, "area or node"),
        (("north", None), -1, None, "starts in the future"),
        (("north", None), 1, 0.5, "end after it starts"),
    ],
)
async def test_bad_announcements_are_refused_and_tell_nobody(
    resources, session, place, starts, ends, reason
):
    await make_customer(session, network_area="north")
    await session.commit()
    async with resources.sessionmaker() as s:
        with pytest.raises(ValidationFailed, match=reason):
            await network.announce_maintenance(
                s,
                title="Работы",
                area=place[0],
                node=place[1],
                starts_at=_in(starts),
                ends_at=None if ends is None else _in(ends),
            )
    assert await rows(session) == []
