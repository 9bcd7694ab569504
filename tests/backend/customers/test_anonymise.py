"""Erasing a customer's personal data (152-FZ) through the admin API: the person's data goes,
the money, documents and audit rows stay, and a customer with money or service open is refused."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import func, select

from backend.billing import ledger
from backend.models import (
    AuditEntry,
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationMessage,
    Customer,
    InvoiceStatus,
    MessageDirection,
    MessageSender,
    Payment,
    PaymentStatus,
    Role,
    Ticket,
    TicketMessage,
    TicketStatus,
    Transaction,
    TransactionReason,
    User,
)
from tests.factories import DEFAULT_PASSWORD, make_invoice, make_ticket

API = "/api/v1"


async def _count(session, model, *where) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _settled_customer_with_history(session, as_customer):
    customer, headers = await as_customer(phone="+79001234567")
    for amount, reason in ((70000, TransactionReason.topup), (-70000, TransactionReason.charge)):
        await ledger.post(session, customer_id=customer.id, amount=amount, reason=reason)
    await make_invoice(session, customer, status=InvoiceStatus.paid, paid_amount=70000)
    session.add(
        Payment(
            customer_id=customer.id,
            public_id=str(uuid.uuid4()),
            provider="sandbox",
            amount=70000,
            status=PaymentStatus.succeeded,
        )
    )
    ticket = await make_ticket(session, customer, status=TicketStatus.closed)
    session.add(
        TicketMessage(
            ticket_id=ticket.id, author_role=Role.customer, body="Я живу на Ленина, 5, кв. 7"
        )
    )
    session.add(ChannelIdentity(customer_id=customer.id, channel=Channel.fcm, external_id="fid-1"))
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id="5550001")
    )
    conversation = Conversation(
        channel=Channel.telegram, chat_id="5550001", customer_id=customer.id
    )
    session.add(conversation)
    await session.flush()
    session.add(
        ConversationMessage(
            conversation_id=conversation.id,
            direction=MessageDirection.inbound,
            sender=MessageSender.customer,
            text="мой адрес Ленина, 5",
        )
    )
    await session.commit()
    return customer, headers


async def test_admin_anonymises_a_settled_customer(client, session, as_customer, as_staff):
    customer, customer_headers = await _settled_customer_with_history(session, as_customer)
    customer_id, user_id, email = customer.id, customer.user_id, customer.email
    contract = customer.contract_number
    admin, admin_headers = await as_staff(Role.admin)
    admin_id = admin.id
    audit_before = await _count(session, AuditEntry)
    assert (await client.get(f"{API}/me", headers=customer_headers)).status_code == 200

    r = await client.post(f"{API}/admin/customers/{customer_id}/anonymise", headers=admin_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["customer_id"] == customer_id
    assert body["contract_number"] == contract
    assert body["user_id"] == user_id
    assert body["devices_removed"] == 1  # the push device; the Telegram link was cut first
    assert body["conversations_deleted"] == 1
    assert body["tickets_redacted"] == 1

    session.expire_all()
    row = await session.get(Customer, customer_id)
    assert row is not None
    assert (row.full_name, row.phone, row.email, row.address) == ("[removed]", None, None, {})
    assert row.contract_number == contract
    user = await session.get(User, user_id)
    assert user is not None
    assert (user.is_active, user.email, user.phone) == (False, None, None)
    assert await _count(session, ChannelIdentity, ChannelIdentity.customer_id == customer_id) == 0
    assert await _count(session, Conversation) == 0
    assert await _count(session, ConversationMessage) == 0
    texts = (
        await session.execute(
            select(Ticket.subject, Ticket.description).where(Ticket.customer_id == customer_id)
        )
    ).one()
    assert tuple(texts) == ("[removed]", "[removed]")
    assert await session.scalar(select(TicketMessage.body)) == "[removed]"

    # money and audit rows are all kept
    assert await _count(session, Transaction) == 2
    assert await _count(session, Payment, Payment.customer_id == customer_id) == 1
    assert await _count(session, AuditEntry) > audit_before
    [entry] = list(
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "customer.anonymise"))
    )
    assert (entry.actor_user_id, entry.object_id) == (admin_id, str(customer_id))
    assert email not in str(entry.details)

    # the person can no longer use the account, by token or by password
    assert (await client.get(f"{API}/me", headers=customer_headers)).status_code == 401
    login = await client.post(
        f"{API}/auth/login", json={"login": email, "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 401
    # and admins see what happened in the audit log
    r = await client.get(
        f"{API}/audit", params={"action": "customer.anonymise"}, headers=admin_headers
    )
    assert [e["object_id"] for e in r.json()["items"]] == [str(customer_id)]

    again = await client.post(
        f"{API}/admin/customers/{customer_id}/anonymise", headers=admin_headers
    )
    assert again.status_code == 409
    assert again.json()["error"] == "customer_already_anonymised"


async def test_refused_while_money_or_service_is_open(client, session, as_customer, as_staff):
    customer, _ = await as_customer(balance=150)
    customer_id = customer.id
    _, admin_headers = await as_staff(Role.admin)
    url = f"{API}/admin/customers/{customer_id}/anonymise"

    r = await client.post(url, headers=admin_headers)
    assert r.status_code == 409
    assert r.json()["error"] == "customer_not_settled"
    assert r.json()["open"] == {"balance": 150}

    await ledger.post(
        session, customer_id=customer_id, amount=-150, reason=TransactionReason.adjustment
    )
    await make_invoice(session, customer, due_date=date.today() + timedelta(days=3))
    await session.commit()
    r = await client.post(url, headers=admin_headers)
    assert r.status_code == 409
    assert r.json()["open"] == {"unpaid_invoices": 1}

    session.expire_all()
    row = await session.get(Customer, customer_id)
    assert row is not None and row.full_name != "[removed]"
    assert await _count(session, AuditEntry, AuditEntry.action == "customer.anonymise") == 0


async def test_only_admins_and_only_real_customers(client, session, as_customer, as_staff):
    customer, customer_headers = await as_customer()
    _, agent_headers = await as_staff(Role.agent)
    _, admin_headers = await as_staff(Role.admin)
    url = f"{API}/admin/customers/{customer.id}/anonymise"
    assert (await client.post(url, headers=customer_headers)).status_code == 403
    assert (await client.post(url, headers=agent_headers)).status_code == 403
    assert (await client.post(url)).status_code == 401
    missing = await client.post(f"{API}/admin/customers/999999/anonymise", headers=admin_headers)
    assert missing.status_code == 404
    too_big = await client.post(
        f"{API}/admin/customers/9223372036854775808/anonymise", headers=admin_headers
    )
    assert too_big.status_code == 422
    assert too_big.json()["error"] == "validation_error"
