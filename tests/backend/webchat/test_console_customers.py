"""The console's customer search (contract, phone, name, Telegram) and the customer's card."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from backend.clock import utcnow
from backend.models import (
    Channel,
    ChannelIdentity,
    Payment,
    PaymentStatus,
    PromisedPayment,
    Suspension,
    SuspensionStatus,
    TicketStatus,
)
from tests.backend.webchat.console_support import AGENT, queued
from tests.factories import (
    make_customer,
    make_document,
    make_subscription,
    make_tariff,
    make_ticket,
    signed_in_customer,
)

SEARCH = f"{AGENT}/customers/search"


async def test_search_by_contract_phone_name_and_telegram(
    client, as_staff, session, settings
) -> None:
    _, anna = await make_customer(
        session, full_name="Иванова Анна", contract_number="D-0101", phone="+79001234567"
    )
    _, boris = await make_customer(session, full_name="Boris Smith", contract_number="X-D-0102")
    session.add_all(
        [
            ChannelIdentity(
                customer_id=boris.id,
                channel=Channel.telegram,
                external_id="555000111",
                details={"username": "BorisTheBlade"},
            ),
            # a push token is no Telegram account
            ChannelIdentity(customer_id=anna.id, channel=Channel.fcm, external_id="555000111"),
        ]
    )
    await session.commit()
    anna_id, boris_id = anna.id, boris.id
    _, staff = await as_staff()

    async def found(q: str) -> list[int]:
        r = await client.get(SEARCH, params={"q": q}, headers=staff)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await found("d-01") == [anna_id]  # a prefix of the contract, any case
    assert await found("8 (900) 123-45-67") == [anna_id]  # the phone, in another format
    assert await found("1234567") == [anna_id]
    assert await found("анна") == [anna_id]
    assert await found("smith") == [boris_id]
    assert await found("555000111") == [boris_id]  # the Telegram id, not the push token
    assert await found("@borisTheblade") == [boris_id]
    assert await found("nobody") == []
    assert await found("%_") == []
    r = await client.get(SEARCH, params={"q": "d-0101"}, headers=staff)
    [hit] = r.json()["items"]
    assert hit["contract_number"] == "D-0101" and hit["telegram"] is False
    r = await client.get(SEARCH, params={"q": "smith"}, headers=staff)
    assert r.json()["items"][0]["telegram"] is True

    for _ in range(25):
        await make_customer(session, full_name="Same Name")
    await session.commit()
    assert len(await found("same name")) == 20

    for bad in ({"q": "x"}, {"q": "x" * 101}, {}):
        r = await client.get(SEARCH, params=bad, headers=staff)
        assert r.status_code == 422 and r.json()["error"] == "validation_error"
    _, customer_headers = await signed_in_customer(session, settings)
    await session.commit()
    r = await client.get(SEARCH, params={"q": "anna"}, headers=customer_headers)
    assert r.status_code == 403


async def test_the_card_holds_what_an_agent_needs(client, as_staff, session, resources) -> None:
    _, customer = await make_customer(
        session, full_name="Card Holder", contract_number="C-1", balance=12345
    )
    tariff = await make_tariff(session, name="Дом 100", price=60000)
    sub = await make_subscription(session, customer, tariff)
    today = date.today()
    session.add_all(
        [
            PromisedPayment(
                customer_id=customer.id,
                amount=30000,
                fee=0,
                expires_at=utcnow() + timedelta(days=3),
            ),
            Suspension(
                customer_id=customer.id,
                subscription_id=sub.id,
                start_on=today + timedelta(days=10),
                end_on=today + timedelta(days=20),
                status=SuspensionStatus.scheduled,
            ),
            Payment(
                customer_id=customer.id,
                public_id=str(uuid.uuid4()),
                provider="sandbox",
                amount=50000,
                currency="RUB",
                status=PaymentStatus.succeeded,
            ),
            ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id="42"),
            ChannelIdentity(customer_id=customer.id, channel=Channel.fcm, external_id="secret-fid"),
        ]
    )
    open_ticket = await make_ticket(session, customer, subject="Нет сети")
    await make_ticket(session, customer, subject="Старое", status=TicketStatus.closed)
    document = await make_document(session, customer, title="Договор")
    await session.commit()
    customer_id, open_id, document_id = customer.id, open_ticket.id, document.id
    _, conv_id = await queued(resources, session, customer_id=customer_id)
    _, staff = await as_staff()

    r = await client.get(f"{AGENT}/customers/{customer_id}/card", headers=staff)
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["full_name"] == "Card Holder" and card["contract_number"] == "C-1"
    assert card["status"] == "active"
    assert card["balance"] == 12345 and card["currency"] == "RUB"
    assert card["days_left"] is not None
    assert card["tariff"]["name"] == "Дом 100" and card["tariff"]["price"] == 60000
    assert card["promised_payment"]["amount"] == 30000
    assert card["freeze"]["status"] == "scheduled"
    assert [t["id"] for t in card["open_tickets"]] == [open_id]
    assert [(p["amount"], p["status"]) for p in card["recent_payments"]] == [(50000, "succeeded")]
    assert [d["id"] for d in card["documents"]] == [document_id]
    channels = {c["channel"]: c for c in card["channels"]}
    assert channels["telegram"]["external_id"] == "42"
    assert channels["fcm"]["external_id"] is None  # a push token is not shown
    assert [(c["id"], c["state"]) for c in card["conversations"]] == [(conv_id, "waiting_agent")]

    r = await client.get(f"{AGENT}/customers/999999/card", headers=staff)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await client.get(f"{AGENT}/customers/0/card", headers=staff)
    assert r.status_code == 422
    _, no_mfa = await as_staff(mfa=False)
    r = await client.get(f"{AGENT}/customers/{customer_id}/card", headers=no_mfa)
    assert r.status_code == 403 and r.json()["error"] == "mfa_required"


async def test_the_card_shows_the_customers_delivery_log(
    client, as_staff, session, resources
) -> None:
    """The notices the worker sent, on which channel and how it went, newest first; the
    address itself (a push token) is not shown."""
    from notifications.channels import ChannelRegistry, FakeChannel, UnreachableError
    from notifications.worker import deliver_once
    from tests.notifications.helpers import enqueue_committed

    _, customer = await make_customer(session, contract_number="C-2")
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id="77")
    )
    await session.commit()
    customer_id = customer.id
    blocked, email = FakeChannel(), FakeChannel()
    blocked.fail_with = UnreachableError("bot was blocked by the user")
    await enqueue_committed(
        resources,
        {"customer_id": customer_id, "amount": 50000, "balance": 85000, "currency": "RUB"},
        "pay:card",
        kind="payment.credited",
    )
    await deliver_once(resources, ChannelRegistry({"telegram": blocked, "email": email}))
    _, staff = await as_staff()

    card = (await client.get(f"{AGENT}/customers/{customer_id}/card", headers=staff)).json()
    log = [(n["kind"], n["channel"], n["status"]) for n in card["notifications"]]
    assert log == [
        ("payment.credited", "email", "sent"),
        ("payment.credited", "telegram", "failed"),
    ]
    assert "blocked" in card["notifications"][1]["error"]
    assert card["notifications"][0]["sent_at"] is not None
    assert "address" not in card["notifications"][0]
