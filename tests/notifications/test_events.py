"""Domain events addressed to a customer (ticket.updated, billing.low_balance): the worker
finds the customer's channel, locale and preferences."""

from __future__ import annotations

import pytest

from backend.audit.service import Actor
from backend.models import OutboxStatus, Role
from backend.support import service as support
from backend.support.schemas import TicketUpdateIn
from notifications.channels import ChannelRegistry, FakeChannel
from notifications.events import Recipient, pick_channel
from notifications.worker import deliver_once
from tests.factories import make_customer, make_ticket, make_user
from tests.notifications.helpers import enqueue_committed, rows


@pytest.fixture
def email() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
def sms() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
def channels(email, sms) -> ChannelRegistry:
    return ChannelRegistry({"email": email, "sms": sms})


async def test_ticket_event_goes_to_the_customers_email_in_their_language(
    resources, session, email, sms, channels
):
    _, customer = await make_customer(session, email="anna@example.com", locale="en")
    await session.commit()
    payload = {"ticket_id": 42, "customer_id": customer.id, "status": "resolved",
               "event": "status_changed"}  # fmt: skip
    await enqueue_committed(resources, payload, "ticket:42:status:1", kind="ticket.updated")

    assert await deliver_once(resources, channels) == 1

    [sent] = email.sent
    assert (sent.channel, sent.to, sent.locale) == ("email", "anna@example.com", "en")
    assert sent.text.startswith("Ticket #42 has been updated. Status: resolved.")
    assert sent.payload["customer_id"] == customer.id
    assert sms.sent == []
    [row] = await rows(session)
    assert (row.status, row.last_error) == (OutboxStatus.done, None)


async def test_customer_without_email_gets_an_sms(resources, session, email, sms, channels):
    _, customer = await make_customer(session, phone="+79001112233")
    customer.email = None
    await session.commit()
    payload = {"customer_id": customer.id, "balance": 5000, "days_left": 1}
    await enqueue_committed(resources, payload, "low-balance:1", kind="billing.low_balance")

    await deliver_once(resources, channels)

    [sent] = sms.sent
    assert sent.to == "+79001112233"
    assert sent.locale == "ru"
    assert sent.text.startswith("На счёте 50,00 RUB — этого хватит примерно на 1 день.")
    assert email.sent == []


async def test_opted_out_customer_is_skipped_not_dead(resources, session, email, channels):
    _, customer = await make_customer(session)
    customer.notification_preferences = {"billing": False, "tickets": True}
    await session.commit()
    payload = {"customer_id": customer.id, "balance": 100, "days_left": 1}
    await enqueue_committed(resources, payload, "low-balance:2", kind="billing.low_balance")

    await deliver_once(resources, channels)

    assert email.sent == []
    [row] = await rows(session)
    assert row.status == OutboxStatus.done
    assert row.last_error == "skipped: customer turned off billing notifications"


@pytest.mark.parametrize(
    ("kind", "payload", "reason"),
    [
        ("ticket.updated", {"ticket_id": 1, "status": "open"}, "needs a customer_id"),
        ("ticket.updated", {"customer_id": 999999, "ticket_id": 1, "status": "open"},
         "customer 999999 not found"),
        ("billing.low_balance", {"customer_id": "CUSTOMER"}, "malformed billing.low_balance"),
        ("crm.something", {"customer_id": "CUSTOMER"}, "no notification for kind"),
    ],
)  # fmt: skip
async def test_bad_events_dead_letter_with_a_reason(
    resources, session, email, channels, kind, payload, reason
):
    _, customer = await make_customer(session)
    await session.commit()
    if payload.get("customer_id") == "CUSTOMER":
        payload = {**payload, "customer_id": customer.id}
    await enqueue_committed(resources, payload, "bad", kind=kind)

    await deliver_once(resources, channels)

    [row] = await rows(session)
    assert row.status == OutboxStatus.dead
    assert reason in (row.last_error or "")
    assert email.sent == []


async def test_customer_with_no_reachable_channel_dead_letters(resources, session, channels):
    _, customer = await make_customer(session)
    customer.email = None
    customer.phone = None
    await session.commit()
    customer_id = customer.id
    payload = {"customer_id": customer_id, "ticket_id": 3, "status": "open"}
    await enqueue_committed(resources, payload, "t3", kind="ticket.updated")
    await deliver_once(resources, channels)
    [row] = await rows(session)
    assert row.status == OutboxStatus.dead
    assert row.last_error == (
        f"PermanentDeliveryError: customer {customer_id} has no reachable channel"
    )


async def test_support_status_change_reaches_the_customer(resources, session, email, channels):
    """The payload the support service writes is one the worker can deliver."""
    _, customer = await make_customer(session, email="boris@example.com")
    ticket = await make_ticket(session, customer)
    agent = await make_user(session, role=Role.agent)
    await session.commit()
    async with resources.sessionmaker() as s:
        await support.update_ticket(
            s, ticket.id, TicketUpdateIn(status="in_progress"), Actor(agent.id, agent.role)
        )
        await s.commit()

    assert await deliver_once(resources, channels) == 1

    [sent] = email.sent
    assert sent.to == "boris@example.com"
    assert sent.text == f"Заявка № {ticket.id} обновлена. Статус: в работе."


def test_pick_channel_prefers_email_and_skips_unregistered_channels():
    both = Recipient(customer_id=1, email="a@example.com", phone="+79000000001", locale="ru")
    assert pick_channel(both, {"email", "sms"}) == ("email", "a@example.com")
    assert pick_channel(both, {"sms"}) == ("sms", "+79000000001")
    assert pick_channel(both, set()) is None
    phone_only = Recipient(customer_id=1, email=None, phone="+79000000001", locale="ru")
    assert pick_channel(phone_only, {"email", "sms"}) == ("sms", "+79000000001")
