"""A broadcast through the notification worker: each recipient gets the admin's text in their
language on their channel, a marketing broadcast reaches only those who opted in (checked again
at send time), a cancelled broadcast sends nothing more, and the admin's progress counts what
the worker delivered."""

from __future__ import annotations

from sqlalchemy import update

from backend.broadcasts import tasks
from backend.models import Channel, ChannelIdentity, Customer, OutboxStatus, Role
from notifications.channels import ChannelRegistry
from notifications.worker import deliver_once
from tests.backend.broadcasts.conftest import URL, body
from tests.factories import make_customer
from tests.notifications.helpers import rows
from tests.notifications.test_routing import Scripted


async def _people(session):
    ids = []
    for n, (locale, marketing) in enumerate([("ru", True), ("en", True), ("ru", False)]):
        _, customer = await make_customer(session, with_user=False, contract_number=f"B-{n}")
        customer.locale = locale
        customer.notification_preferences = {
            **customer.notification_preferences,
            "marketing": marketing,
        }
        session.add(
            ChannelIdentity(
                customer_id=customer.id, channel=Channel.telegram, external_id=str(500 + n)
            )
        )
        ids.append(customer.id)
    await session.commit()
    return ids


async def _send(client, admin, **overrides):
    r = await client.post(URL, json=body(**overrides), headers=admin)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_each_recipient_gets_the_text_in_their_language(client, session, resources, as_staff):
    await _people(session)
    _, admin = await as_staff(Role.admin)
    broadcast_id = await _send(client, admin)
    await tasks.run_due(resources)
    tg = Scripted("telegram")
    assert await deliver_once(resources, ChannelRegistry({"telegram": tg})) == 3
    by_chat = {m.to: m for m in tg.sent}
    assert by_chat["500"].text == "Ночью с 2:00 до 4:00 плановые работы."
    assert by_chat["501"].text == "Maintenance 2-4 am."
    assert by_chat["501"].subject == "A message from your provider"
    assert {m.kind for m in tg.sent} == {"broadcast.message"}
    progress = (await client.get(f"{URL}/{broadcast_id}", headers=admin)).json()["progress"]
    assert progress["sent"] == 3 and progress["pending"] == 0


async def test_marketing_only_to_those_still_opted_in(client, session, resources, as_staff):
    ids = await _people(session)
    _, admin = await as_staff(Role.admin)
    await _send(client, admin, marketing=True)
    await tasks.run_due(resources)
    # the English customer opts out after the fan-out, before the send
    await session.execute(
        update(Customer)
        .where(Customer.id == ids[1])
        .values(notification_preferences={"billing": True, "marketing": False})
    )
    await session.commit()
    tg = Scripted("telegram")
    await deliver_once(resources, ChannelRegistry({"telegram": tg}))
    assert [m.to for m in tg.sent] == ["500"]
    skipped = [r for r in await rows(session) if r.last_error and "opt in" in r.last_error]
    assert len(skipped) == 1 and skipped[0].status == OutboxStatus.done


async def test_a_cancelled_broadcast_sends_nothing_more(client, session, resources, as_staff):
    await _people(session)
    _, admin = await as_staff(Role.admin)
    broadcast_id = await _send(client, admin)
    await tasks.run_due(resources)
    r = await client.post(f"{URL}/{broadcast_id}/cancel", headers=admin)
    assert r.status_code == 200, r.text
    tg = Scripted("telegram")
    assert await deliver_once(resources, ChannelRegistry({"telegram": tg})) == 0
    assert tg.calls == []
