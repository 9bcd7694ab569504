from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.models import (
    AuditEntry,
    OutboxMessage,
    Role,
    Ticket,
    TicketCategory,
    TicketMessage,
    TicketPriority,
    TicketStatus,
    utcnow,
)
from tests.factories import make_ticket, make_user, signed_in_user

API = "/api/v1"


async def _outbox(session) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    return list((await session.scalars(query.execution_options(populate_existing=True))).all())


async def _audit(session, action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id).execution_options(populate_existing=True)
    if action:
        query = query.where(AuditEntry.action == action)
    return list((await session.scalars(query)).all())


async def _ticket(session, ticket_id: int):
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    assert ticket is not None
    return ticket


# --- customers ------------------------------------------------------------------------------


async def test_customer_creates_ticket(client, session, as_customer):
    customer, headers = await as_customer()

    r = await client.post(
        f"{API}/tickets",
        json={"subject": "  Нет интернета  ", "description": "Со вчера", "category": "no_internet"},
        headers=headers,
    )

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["subject"] == "Нет интернета"
    assert body["customer_id"] == customer.id
    assert body["status"] == "open"
    assert body["priority"] == "medium"
    assert body["category"] == "no_internet"
    assert "details" not in body
    stored = await _ticket(session, body["id"])
    assert stored.customer_id == customer.id
    [entry] = await _audit(session, "ticket.create")
    assert entry.object_type == "ticket"
    assert entry.object_id == str(body["id"])
    assert entry.actor_user_id is not None
    assert entry.actor_role == "customer"


async def test_create_defaults_to_category_other(client, as_customer):
    _, headers = await as_customer()
    r = await client.post(
        f"{API}/tickets", json={"subject": "Вопрос", "description": "Текст"}, headers=headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["category"] == "other"


@pytest.mark.parametrize("priority", ["low", "medium", "high"])
async def test_customer_may_choose_non_critical_priority(client, as_customer, priority):
    _, headers = await as_customer()
    r = await client.post(
        f"{API}/tickets",
        json={"subject": "Вопрос", "description": "Текст", "priority": priority},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["priority"] == priority


async def test_customer_cannot_open_critical_ticket(client, session, as_customer):
    _, headers = await as_customer()
    r = await client.post(
        f"{API}/tickets",
        json={"subject": "Срочно", "description": "Текст", "priority": "critical"},
        headers=headers,
    )
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"
    assert (await session.scalars(select(Ticket))).all() == []


@pytest.mark.parametrize(
    "body",
    [
        {"subject": "ab", "description": "x"},
        {"subject": "x" * 201, "description": "x"},
        {"subject": "   ", "description": "x"},
        {"subject": "Тема"},
        {"subject": "Тема", "description": ""},
        {"subject": "Тема", "description": "x" * 5001},
        {"subject": "Тема", "description": "x", "category": "weather"},
        {"subject": "Тема", "description": "x", "priority": "urgent"},
        {"subject": "Тема", "description": "x", "status": "closed"},
        {"subject": 123, "description": "x"},
        [],
        "text",
    ],
)
async def test_malformed_ticket_is_refused(client, as_customer, body):
    _, headers = await as_customer()
    r = await client.post(f"{API}/tickets", json=body, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"


async def test_non_json_body_is_refused(client, as_customer):
    _, headers = await as_customer()
    r = await client.post(
        f"{API}/tickets",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"


async def test_anonymous_is_refused(client):
    r = await client.get(f"{API}/tickets")
    assert r.status_code == 401
    assert r.json()["error"] == "not_authenticated"


async def test_customer_lists_own_tickets_newest_first(client, session, as_customer):
    customer, headers = await as_customer()
    other, _ = await as_customer()
    now = utcnow()
    old = await make_ticket(session, customer, subject="старый", created_at=now - timedelta(days=2))
    new = await make_ticket(session, customer, subject="новый", created_at=now)
    mid = await make_ticket(
        session,
        customer,
        subject="решённый",
        created_at=now - timedelta(days=1),
        status=TicketStatus.resolved,
    )
    await make_ticket(session, other, subject="чужой")
    await session.commit()

    r = await client.get(f"{API}/tickets", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [t["id"] for t in body["items"]] == [new.id, mid.id, old.id]
    assert body["total"] == 3

    r = await client.get(f"{API}/tickets", params={"status": "resolved"}, headers=headers)
    assert [t["id"] for t in r.json()["items"]] == [mid.id]

    r = await client.get(
        f"{API}/tickets", params=[("status", "open"), ("status", "resolved")], headers=headers
    )
    assert r.json()["total"] == 3

    r = await client.get(f"{API}/tickets", params={"limit": 1, "offset": 1}, headers=headers)
    page = r.json()
    assert [t["id"] for t in page["items"]] == [mid.id]
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"status": "lost"}, {"customer_id": 1}],
)
async def test_customer_list_refuses_bad_parameters(client, as_customer, params):
    _, headers = await as_customer()
    r = await client.get(f"{API}/tickets", params=params, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"


async def test_customer_sees_public_messages_only(client, session, as_customer, as_staff):
    customer, headers = await as_customer()
    agent, _ = await as_staff()
    ticket = await make_ticket(session, customer)
    session.add_all(
        [
            TicketMessage(
                ticket_id=ticket.id, author_user_id=agent.id, author_role=Role.agent, body="Ответ"
            ),
            TicketMessage(
                ticket_id=ticket.id,
                author_user_id=agent.id,
                author_role=Role.agent,
                body="Заметка",
                internal=True,
            ),
        ]
    )
    await session.commit()

    r = await client.get(f"{API}/tickets/{ticket.id}", headers=headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert [m["body"] for m in body["messages"]] == ["Ответ"]
    assert "details" not in body


async def test_customer_cannot_reach_another_customers_ticket(client, session, as_customer):
    _, headers_a = await as_customer()
    customer_b, _ = await as_customer()
    ticket_b = await make_ticket(session, customer_b)
    await session.commit()

    r = await client.get(f"{API}/tickets/{ticket_b.id}", headers=headers_a)
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    # Same answer as for an id that does not exist at all.
    missing = await client.get(f"{API}/tickets/{ticket_b.id + 1000}", headers=headers_a)
    assert missing.status_code == 404
    assert missing.json() == r.json()

    r = await client.post(
        f"{API}/tickets/{ticket_b.id}/messages", json={"body": "привет"}, headers=headers_a
    )
    assert r.status_code == 404

    r = await client.get(f"{API}/tickets", headers=headers_a)
    assert r.json()["items"] == []

    assert (await session.scalars(select(TicketMessage))).all() == []


async def test_customer_message_on_own_ticket(client, session, as_customer):
    customer, headers = await as_customer()
    ticket = await make_ticket(session, customer, status=TicketStatus.in_progress)
    await session.commit()

    r = await client.post(
        f"{API}/tickets/{ticket.id}/messages", json={"body": " Всё ещё нет "}, headers=headers
    )

    assert r.status_code == 201, r.text
    message = r.json()
    assert message["body"] == "Всё ещё нет"
    assert message["author_role"] == "customer"
    assert message["internal"] is False
    assert (await _ticket(session, ticket.id)).status is TicketStatus.in_progress
    [entry] = await _audit(session, "ticket.message")
    assert entry.details["message_id"] == message["id"]
    # The customer wrote it; there is nobody to notify.
    assert await _outbox(session) == []


async def test_customer_message_reopens_resolved_ticket(client, session, as_customer):
    customer, headers = await as_customer()
    ticket = await make_ticket(
        session, customer, status=TicketStatus.resolved, resolved_at=utcnow()
    )
    await session.commit()

    r = await client.post(
        f"{API}/tickets/{ticket.id}/messages", json={"body": "Снова нет"}, headers=headers
    )

    assert r.status_code == 201, r.text
    stored = await _ticket(session, ticket.id)
    assert stored.status is TicketStatus.open
    assert stored.resolved_at is None
    [update] = await _audit(session, "ticket.update")
    assert update.details["changes"] == {"status": ["resolved", "open"]}


async def test_message_on_closed_ticket_is_refused(client, session, as_customer, as_staff):
    customer, headers = await as_customer()
    _, staff = await as_staff()
    ticket = await make_ticket(session, customer, status=TicketStatus.closed)
    await session.commit()

    for h in (headers, staff):
        r = await client.post(f"{API}/tickets/{ticket.id}/messages", json={"body": "x"}, headers=h)
        assert r.status_code == 409
        assert r.json()["error"] == "ticket_closed"
    assert (await session.scalars(select(TicketMessage))).all() == []
    assert (await _ticket(session, ticket.id)).status is TicketStatus.closed


@pytest.mark.parametrize(
    "body", [{"body": ""}, {"body": "x" * 5001}, {}, {"body": "x", "author_role": "agent"}]
)
async def test_malformed_message_is_refused(client, session, as_customer, body):
    customer, headers = await as_customer()
    ticket = await make_ticket(session, customer)
    await session.commit()
    r = await client.post(f"{API}/tickets/{ticket.id}/messages", json=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"


async def test_customer_cannot_write_internal_notes(client, session, as_customer):
    customer, headers = await as_customer()
    ticket = await make_ticket(session, customer)
    await session.commit()
    r = await client.post(
        f"{API}/tickets/{ticket.id}/messages",
        json={"body": "x", "internal": True},
        headers=headers,
    )
    assert r.status_code == 403
    assert (await session.scalars(select(TicketMessage))).all() == []


async def test_customer_is_refused_staff_operations(client, session, as_customer):
    customer, headers = await as_customer()
    ticket = await make_ticket(session, customer)
    await session.commit()

    r = await client.get(f"{API}/agent/tickets", headers=headers)
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"
    r = await client.patch(f"{API}/tickets/{ticket.id}", json={"status": "closed"}, headers=headers)
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"
    assert (await _ticket(session, ticket.id)).status is TicketStatus.open


async def test_staff_cannot_open_customer_tickets(client, as_staff):
    _, staff = await as_staff()
    r = await client.post(
        f"{API}/tickets", json={"subject": "abc", "description": "x"}, headers=staff
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    "bad_id", ["..%2F..%2Fetc%2Fpasswd", "..", "abc", "0", "-1", "1.5", "99999999999999999999"]
)
async def test_bad_ticket_ids(client, session, as_customer, bad_id):
    customer, headers = await as_customer()
    await make_ticket(session, customer)
    await session.commit()
    r = await client.get(f"{API}/tickets/{bad_id}", headers=headers)
    assert r.status_code in (404, 422), r.text
    assert r.json()["error"] in ("not_found", "validation_error")


# --- staff ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/agent/tickets", "/tickets/1"])
async def test_agent_without_2fa_is_refused(client, session, as_customer, as_staff, path):
    customer, _ = await as_customer()
    await make_ticket(session, customer)
    _, headers = await as_staff(mfa=False)
    await session.commit()
    r = await client.get(f"{API}{path}", headers=headers)
    assert r.status_code == 403
    assert r.json()["error"] == "mfa_required"


async def test_agent_without_2fa_cannot_change_tickets(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    ticket = await make_ticket(session, customer)
    _, headers = await as_staff(mfa=False)
    await session.commit()
    r = await client.patch(f"{API}/tickets/{ticket.id}", json={"status": "closed"}, headers=headers)
    assert r.json()["error"] == "mfa_required"
    r = await client.post(
        f"{API}/tickets/{ticket.id}/messages", json={"body": "x"}, headers=headers
    )
    assert r.status_code == 403
    assert r.json()["error"] == "mfa_required"
    assert (await _ticket(session, ticket.id)).status is TicketStatus.open


async def test_queue_is_ordered_by_priority_then_age(client, session, as_customer, as_staff):
    a, _ = await as_customer()
    b, _ = await as_customer()
    _, staff = await as_staff()
    now = utcnow()

    async def ticket(customer, priority, age_hours):
        return await make_ticket(
            session,
            customer,
            priority=priority,
            created_at=now - timedelta(hours=age_hours),
        )

    low_old = await ticket(a, TicketPriority.low, 50)
    medium_new = await ticket(b, TicketPriority.medium, 1)
    critical = await ticket(a, TicketPriority.critical, 2)
    high_new = await ticket(b, TicketPriority.high, 3)
    high_old = await ticket(a, TicketPriority.high, 30)
    medium_old = await ticket(a, TicketPriority.medium, 40)
    await session.commit()

    r = await client.get(f"{API}/agent/tickets", headers=staff)

    assert r.status_code == 200, r.text
    body = r.json()
    assert [t["id"] for t in body["items"]] == [
        critical.id,
        high_old.id,
        high_new.id,
        medium_old.id,
        medium_new.id,
        low_old.id,
    ]
    assert body["total"] == 6
    assert "details" in body["items"][0]


async def test_queue_filters(client, session, as_customer, as_staff):
    a, _ = await as_customer()
    b, _ = await as_customer()
    agent, staff = await as_staff()
    t1 = await make_ticket(
        session, a, category=TicketCategory.payment, priority=TicketPriority.high
    )
    t2 = await make_ticket(session, b, status=TicketStatus.in_progress, assignee_id=agent.id)
    t3 = await make_ticket(session, b, status=TicketStatus.closed, category=TicketCategory.payment)
    await session.commit()

    async def ids(**params):
        r = await client.get(f"{API}/agent/tickets", params=params, headers=staff)
        assert r.status_code == 200, r.text
        return {t["id"] for t in r.json()["items"]}

    assert await ids() == {t1.id, t2.id, t3.id}
    assert await ids(status="in_progress") == {t2.id}
    assert await ids(status=["open", "in_progress"]) == {t1.id, t2.id}
    assert await ids(priority="high") == {t1.id}
    assert await ids(category="payment") == {t1.id, t3.id}
    assert await ids(assignee_id=agent.id) == {t2.id}
    assert await ids(customer_id=b.id) == {t2.id, t3.id}
    assert await ids(customer_id=b.id, category="payment") == {t3.id}

    r = await client.get(f"{API}/agent/tickets", params={"priority": "urgent"}, headers=staff)
    assert r.status_code == 422


async def test_staff_sees_any_ticket_with_internal_notes(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    agent, staff = await as_staff()
    ticket = await make_ticket(session, customer, details={"diagnostics": {"link": "down"}})
    session.add(
        TicketMessage(
            ticket_id=ticket.id,
            author_user_id=agent.id,
            author_role=Role.agent,
            body="Заметка",
            internal=True,
        )
    )
    await session.commit()

    r = await client.get(f"{API}/tickets/{ticket.id}", headers=staff)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["details"] == {"diagnostics": {"link": "down"}}
    assert [(m["body"], m["internal"]) for m in body["messages"]] == [("Заметка", True)]


async def test_admin_is_staff_too(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    ticket = await make_ticket(session, customer)
    _, admin = await as_staff(Role.admin)
    await session.commit()
    r = await client.patch(
        f"{API}/tickets/{ticket.id}", json={"status": "in_progress"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"


async def test_staff_reply_writes_outbox_row(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    agent, staff = await as_staff()
    ticket = await make_ticket(session, customer)
    await session.commit()

    r = await client.post(
        f"{API}/tickets/{ticket.id}/messages", json={"body": "Проверяем линию"}, headers=staff
    )

    assert r.status_code == 201, r.text
    message = r.json()
    assert message["author_role"] == "agent"
    assert message["author_user_id"] == agent.id
    [row] = await _outbox(session)
    assert row.kind == "ticket.updated"
    assert row.dedup_key == f"ticket:{ticket.id}:msg:{message['id']}"
    assert row.payload["ticket_id"] == ticket.id
    assert row.payload["customer_id"] == customer.id
    assert row.payload["status"] == "open"
    assert row.payload["event"] == "answered"
    assert row.payload["answer"] == "Проверяем линию"
    [entry] = await _audit(session, "ticket.message")
    assert entry.actor_user_id == agent.id
    assert entry.details["internal"] is False


async def test_internal_note_writes_no_outbox_row(client, session, as_customer, as_staff):
    customer, headers = await as_customer()
    _, staff = await as_staff()
    ticket = await make_ticket(session, customer)
    await session.commit()

    r = await client.post(
        f"{API}/tickets/{ticket.id}/messages",
        json={"body": "Клиент звонил трижды", "internal": True},
        headers=staff,
    )

    assert r.status_code == 201, r.text
    assert r.json()["internal"] is True
    assert await _outbox(session) == []
    [entry] = await _audit(session, "ticket.message")
    assert entry.details["internal"] is True
    # ...and the customer never sees it.
    r = await client.get(f"{API}/tickets/{ticket.id}", headers=headers)
    assert r.json()["messages"] == []


async def test_two_replies_are_two_notifications(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    _, staff = await as_staff()
    ticket = await make_ticket(session, customer)
    await session.commit()
    for text in ("Первый", "Второй"):
        r = await client.post(
            f"{API}/tickets/{ticket.id}/messages", json={"body": text}, headers=staff
        )
        assert r.status_code == 201
    rows = await _outbox(session)
    assert len(rows) == 2
    assert len({row.dedup_key for row in rows}) == 2


ALLOWED = {
    ("open", "in_progress"),
    ("open", "resolved"),
    ("open", "closed"),
    ("in_progress", "open"),
    ("in_progress", "resolved"),
    ("in_progress", "closed"),
    ("resolved", "closed"),
    ("resolved", "open"),
}
STATUSES = ["open", "in_progress", "resolved", "closed"]
MOVES = [(a, b) for a in STATUSES for b in STATUSES if a != b]


@pytest.mark.parametrize(("old", "new"), MOVES)
async def test_status_transitions(client, session, as_customer, as_staff, old, new):
    customer, _ = await as_customer()
    _, staff = await as_staff()
    ticket = await make_ticket(session, customer, status=TicketStatus(old))
    await session.commit()

    r = await client.patch(f"{API}/tickets/{ticket.id}", json={"status": new}, headers=staff)

    stored = await _ticket(session, ticket.id)
    if (old, new) in ALLOWED:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == new
        assert stored.status.value == new
        [row] = await _outbox(session)
        assert row.kind == "ticket.updated"
        assert row.payload["status"] == new
        assert row.payload["previous_status"] == old
        assert row.payload["event"] == "status_changed"
        [entry] = await _audit(session, "ticket.update")
        assert entry.details["changes"] == {"status": [old, new]}
    else:
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "invalid_transition"
        assert stored.status.value == old
        assert await _outbox(session) == []
        assert await _audit(session, "ticket.update") == []


async def test_resolved_at_follows_status(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    _, staff = await as_staff()
    ticket = await make_ticket(session, customer)
    await session.commit()
    url = f"{API}/tickets/{ticket.id}"

    r = await client.patch(url, json={"status": "resolved"}, headers=staff)
    assert r.json()["resolved_at"] is not None
    resolved_at = (await _ticket(session, ticket.id)).resolved_at
    assert resolved_at is not None

    r = await client.patch(url, json={"status": "open"}, headers=staff)
    assert r.json()["resolved_at"] is None

    r = await client.patch(url, json={"status": "closed"}, headers=staff)
    assert r.json()["resolved_at"] is not None
    assert len(await _outbox(session)) == 3


async def test_same_status_is_a_no_op(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    _, staff = await as_staff()
    ticket = await make_ticket(session, customer, status=TicketStatus.closed)
    await session.commit()
    r = await client.patch(f"{API}/tickets/{ticket.id}", json={"status": "closed"}, headers=staff)
    assert r.status_code == 200
    assert await _outbox(session) == []
    assert await _audit(session, "ticket.update") == []


async def test_staff_updates_priority_category_and_assignee(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    agent, staff = await as_staff()
    other_agent = await make_user(session, role=Role.agent)
    ticket = await make_ticket(session, customer)
    await session.commit()
    url = f"{API}/tickets/{ticket.id}"

    r = await client.patch(
        url,
        json={"priority": "critical", "category": "equipment", "assignee_id": other_agent.id},
        headers=staff,
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["priority"], body["category"], body["assignee_id"]) == (
        "critical",
        "equipment",
        other_agent.id,
    )
    [entry] = await _audit(session, "ticket.update")
    assert entry.actor_user_id == agent.id
    assert entry.details["changes"] == {
        "priority": ["medium", "critical"],
        "category": ["other", "equipment"],
        "assignee_id": [None, other_agent.id],
    }
    # Not a status change and not a reply: the customer is not notified.
    assert await _outbox(session) == []

    r = await client.patch(url, json={"assignee_id": None}, headers=staff)
    assert r.status_code == 200
    assert r.json()["assignee_id"] is None
    assert (await _ticket(session, ticket.id)).assignee_id is None


async def test_assignee_must_be_active_staff(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    customer_user_id = customer.user_id
    _, staff = await as_staff()
    inactive = await make_user(session, role=Role.agent, is_active=False)
    ticket = await make_ticket(session, customer)
    await session.commit()

    for assignee in (customer_user_id, inactive.id, 10**9):
        r = await client.patch(
            f"{API}/tickets/{ticket.id}", json={"assignee_id": assignee}, headers=staff
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid_assignee"
    assert (await _ticket(session, ticket.id)).assignee_id is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": None},
        {"priority": None},
        {"status": "archived"},
        {"assignee_id": 0},
        {"assignee_id": "me"},
        {"subject": "new subject"},
    ],
)
async def test_malformed_update_is_refused(client, session, as_customer, as_staff, body):
    customer, _ = await as_customer()
    _, staff = await as_staff()
    ticket = await make_ticket(session, customer)
    await session.commit()
    r = await client.patch(f"{API}/tickets/{ticket.id}", json=body, headers=staff)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"


async def test_update_missing_ticket(client, as_staff):
    _, staff = await as_staff()
    r = await client.patch(f"{API}/tickets/12345", json={"status": "closed"}, headers=staff)
    assert r.status_code == 404


async def test_customer_token_without_customer_is_refused(client, session, settings):
    _, headers = await signed_in_user(session, settings, Role.customer)
    await session.commit()
    r = await client.get(f"{API}/tickets/1", headers=headers)
    assert r.status_code == 403
