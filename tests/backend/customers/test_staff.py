"""Staff customer management: search, create, detail, update, ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.billing import ledger
from backend.models import (
    Account,
    AuditEntry,
    Customer,
    InvoiceStatus,
    Role,
    SubscriptionStatus,
    TicketStatus,
    TransactionReason,
    User,
)
from tests.factories import make_invoice, make_subscription, make_tariff, make_ticket

CUSTOMERS = "/api/v1/customers"
PASSWORD = "a-long-enough-password"


async def _audit(session, action):
    return list(
        (await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all()
    )


async def _count(session, model):
    return await session.scalar(select(func.count()).select_from(model))


# --- access ---------------------------------------------------------------------------------


async def test_staff_endpoints_refuse_customers_and_agents_without_2fa(
    client, as_customer, as_staff
):
    customer, customer_headers = await as_customer()
    _, no_2fa = await as_staff(Role.agent, mfa=False)
    requests = [
        ("GET", CUSTOMERS, None),
        ("POST", CUSTOMERS, {"full_name": "Новый Клиент"}),
        ("GET", f"{CUSTOMERS}/{customer.id}", None),
        ("PATCH", f"{CUSTOMERS}/{customer.id}", {"network_area": "a"}),
        ("GET", f"{CUSTOMERS}/{customer.id}/transactions", None),
    ]
    for method, url, body in requests:
        r = await client.request(method, url, json=body, headers=customer_headers)
        assert (r.status_code, r.json()["error"]) == (403, "forbidden"), (method, url)
        r = await client.request(method, url, json=body, headers=no_2fa)
        assert (r.status_code, r.json()["error"]) == (403, "mfa_required"), (method, url)
        r = await client.request(method, url, json=body)
        assert r.status_code == 401, (method, url)


# --- search ---------------------------------------------------------------------------------


async def test_search_customers(client, session, as_customer, as_staff):
    ivanov, _ = await as_customer(
        full_name="Иванов Иван Иванович",
        phone="+79001234567",
        email="ivanov@example.com",
        contract_number="A-10001",
        balance=35000,
    )
    petrova, _ = await as_customer(
        full_name="Петрова Анна",
        phone="+79117654321",
        email="anna.p@mail.example",
        contract_number="B-20002",
    )
    _, headers = await as_staff(Role.agent)

    async def found(q):
        r = await client.get(CUSTOMERS, params={"q": q}, headers=headers)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await found("a-10001") == [ivanov.id]  # contract number, any case
    assert await found("20002") == [petrova.id]
    assert await found("ИВАНОВ") == [ivanov.id]  # name, Cyrillic case-insensitive
    assert await found("анна") == [petrova.id]
    assert await found("MAIL.EXAMPLE") == [petrova.id]  # email
    assert await found("+7 900 123-45-67") == [ivanov.id]  # phone with punctuation
    assert await found("8 (911) 765 43 21") == [petrova.id]  # national format
    assert await found("765 43") == [petrova.id]  # a fragment
    assert await found("nobody") == []
    assert await found("%") == []  # LIKE wildcards are literal
    assert await found("_") == []

    everyone = await client.get(CUSTOMERS, headers=headers)
    body = everyone.json()
    assert body["total"] == 2
    assert [c["id"] for c in body["items"]] == [petrova.id, ivanov.id]
    by_id = {c["id"]: c for c in body["items"]}
    assert by_id[ivanov.id]["balance"] == 35000
    assert by_id[ivanov.id]["currency"] == "RUB"
    assert by_id[ivanov.id]["contract_number"] == "A-10001"
    assert by_id[petrova.id]["balance"] == 0

    paged = await client.get(CUSTOMERS, params={"limit": 1, "offset": 1}, headers=headers)
    assert [c["id"] for c in paged.json()["items"]] == [ivanov.id]
    assert paged.json()["total"] == 2


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"q": "x" * 101}, {"limit": "many"}]
)
async def test_search_rejects_bad_paging(client, as_staff, params):
    _, headers = await as_staff(Role.agent)

    r = await client.get(CUSTOMERS, params=params, headers=headers)

    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"


# --- create ---------------------------------------------------------------------------------


async def test_create_customer_minimal(client, session, as_staff):
    agent, headers = await as_staff(Role.agent)

    r = await client.post(CUSTOMERS, json={"full_name": "Новый Клиент"}, headers=headers)

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["full_name"] == "Новый Клиент"
    assert body["contract_number"].startswith("W-")
    assert body["user_id"] is None
    assert body["balance"] == {"amount": 0, "currency": "RUB", "display": "0.00", "days_left": None}
    assert body["subscription"] is None
    assert body["open_tickets"] == body["pending_invoices"] == 0
    account = await session.scalar(select(Account).where(Account.customer_id == body["id"]))
    assert account is not None and account.balance == 0
    [entry] = await _audit(session, "customer.create")
    assert (entry.actor_user_id, entry.actor_role) == (agent.id, "agent")


async def test_create_customer_with_sign_in(client, session, as_staff):
    admin, headers = await as_staff(Role.admin)

    r = await client.post(
        CUSTOMERS,
        json={
            "full_name": "Сидоров Сидор",
            "contract_number": "C-777",
            "phone": "8 912 000 11 22",
            "email": "Sidorov@Example.com",
            "address": {"city": "Казань", "street": "Баумана", "building": "5"},
            "locale": "en",
            "network_area": "kazan-1",
            "network_node": "olt-3",
            "password": PASSWORD,
        },
        headers=headers,
    )

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["contract_number"] == "C-777"
    assert body["phone"] == "+79120001122"
    assert body["email"] == "sidorov@example.com"
    assert body["locale"] == "en"
    assert body["address"]["city"] == "Казань"
    assert body["network_area"] == "kazan-1"
    assert body["network_node"] == "olt-3"
    user = await session.get(User, body["user_id"])
    assert user is not None
    assert user.role is Role.customer
    assert user.email == "sidorov@example.com"
    assert user.phone == "+79120001122"
    assert user.password_hash.startswith("$argon2id$")
    [entry] = await _audit(session, "user.create")
    assert entry.actor_user_id == admin.id
    assert not any("password" in key for key in entry.details)

    # the new customer signs in with the phone and reaches their profile
    login = await client.post(
        "/api/v1/auth/login", json={"login": "+7 912 000-11-22", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    access = login.json()["tokens"]["access_token"]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {access}"})
    assert me.json()["contract_number"] == "C-777"


async def test_create_customer_conflicts(client, session, as_customer, as_staff):
    await as_customer(contract_number="X-1", email="taken@example.com")
    _, headers = await as_staff(Role.agent)
    customers_before = await _count(session, Customer)

    r = await client.post(
        CUSTOMERS, json={"full_name": "Кто-то", "contract_number": "X-1"}, headers=headers
    )
    assert (r.status_code, r.json()["error"]) == (409, "contract_number_taken")

    r = await client.post(
        CUSTOMERS,
        json={"full_name": "Кто-то", "email": "TAKEN@example.com", "password": PASSWORD},
        headers=headers,
    )
    assert (r.status_code, r.json()["error"]) == (409, "already_registered")

    assert await _count(session, Customer) == customers_before
    # a contact email shared with another customer is fine without a sign-in
    r = await client.post(
        CUSTOMERS, json={"full_name": "Родственник", "email": "taken@example.com"}, headers=headers
    )
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "validation_error"),
        ({"full_name": "X"}, "validation_error"),
        ({"full_name": "Имя Фамилия", "phone": "123"}, "validation_error"),
        ({"full_name": "Имя Фамилия", "email": "nope"}, "validation_error"),
        ({"full_name": "Имя Фамилия", "locale": "fr"}, "validation_error"),
        ({"full_name": "Имя Фамилия", "contract_number": "bad number"}, "validation_error"),
        ({"full_name": "Имя Фамилия", "contract_number": "x" * 33}, "validation_error"),
        ({"full_name": "Имя Фамилия", "network_node": "n" * 65}, "validation_error"),
        ({"full_name": "Имя Фамилия", "role": "admin"}, "validation_error"),
        ({"full_name": "Имя Фамилия", "balance": 100000}, "validation_error"),
        ({"full_name": "Имя Фамилия", "password": PASSWORD}, "validation_error"),
        (
            {"full_name": "Имя Фамилия", "email": "a@example.com", "password": "short"},
            "weak_password",
        ),
    ],
)
async def test_create_customer_rejects_bad_input(client, session, as_staff, body, error):
    _, headers = await as_staff(Role.agent)

    r = await client.post(CUSTOMERS, json=body, headers=headers)

    assert r.status_code == 422, (body, r.text)
    assert r.json()["error"] == error
    assert await _count(session, Customer) == 0


# --- detail, update, transactions -----------------------------------------------------------


async def test_customer_detail(client, session, as_customer, as_staff):
    customer, _ = await as_customer(balance=35000, network_area="demo-area")
    tariff = await make_tariff(session, name="Дом 300", price=70000)
    await make_subscription(session, customer, tariff)
    await make_ticket(session, customer)
    await make_ticket(session, customer, status=TicketStatus.in_progress)
    await make_ticket(session, customer, status=TicketStatus.closed)
    await make_invoice(session, customer)
    await make_invoice(session, customer, status=InvoiceStatus.paid)
    other, _ = await as_customer()
    await make_ticket(session, other)
    await make_invoice(session, other)
    await session.commit()
    _, headers = await as_staff(Role.agent)

    r = await client.get(f"{CUSTOMERS}/{customer.id}", headers=headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == customer.id
    assert body["contract_number"] == customer.contract_number
    assert body["network_area"] == "demo-area"
    assert body["balance"]["amount"] == 35000
    assert body["balance"]["display"] == "350.00"
    assert body["balance"]["days_left"] in (14, 15)
    assert body["subscription"]["tariff_name"] == "Дом 300"
    assert body["subscription"]["status"] == "active"
    assert body["open_tickets"] == 2
    assert body["pending_invoices"] == 1
    assert body["notification_preferences"]["billing"] is True

    missing = await client.get(f"{CUSTOMERS}/999999", headers=headers)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")


async def test_customer_detail_with_suspended_subscription(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    tariff = await make_tariff(session)
    await make_subscription(session, customer, tariff, status=SubscriptionStatus.suspended)
    await session.commit()
    _, headers = await as_staff(Role.admin)

    body = (await client.get(f"{CUSTOMERS}/{customer.id}", headers=headers)).json()

    assert body["subscription"]["status"] == "suspended"
    assert body["balance"]["days_left"] is None


async def test_staff_updates_a_customer(client, session, as_customer, as_staff):
    customer, _ = await as_customer(address={"city": "Москва", "street": "Ленина"})
    agent, headers = await as_staff(Role.agent)

    r = await client.patch(
        f"{CUSTOMERS}/{customer.id}",
        json={
            "full_name": "Иванова Мария",
            "phone": "+7 999 111 22 33",
            "email": None,
            "locale": "en",
            "address": {"building": "7"},
            "network_area": "north",
            "network_node": "olt-9",
        },
        headers=headers,
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["full_name"] == "Иванова Мария"
    assert body["phone"] == "+79991112233"
    assert body["email"] is None
    assert body["locale"] == "en"
    assert body["address"]["city"] == "Москва"
    assert body["address"]["building"] == "7"
    assert body["network_area"] == "north"
    assert body["network_node"] == "olt-9"
    assert "balance" in body
    [entry] = await _audit(session, "customer.update")
    assert (entry.actor_user_id, entry.actor_role) == (agent.id, "agent")
    assert entry.details["fields"] == [
        "address",
        "email",
        "full_name",
        "locale",
        "network_area",
        "network_node",
        "phone",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"full_name": None},
        {"full_name": "X"},
        {"locale": None},
        {"phone": "abc"},
        {"network_area": ""},
        {"contract_number": "Z-1"},
        {"user_id": 5},
    ],
)
async def test_staff_update_rejects_bad_input(client, session, as_customer, as_staff, body):
    customer, _ = await as_customer()
    _, headers = await as_staff(Role.agent)

    r = await client.patch(f"{CUSTOMERS}/{customer.id}", json=body, headers=headers)

    assert r.status_code == 422, (body, r.text)
    assert r.json()["error"] == "validation_error"
    assert await _audit(session, "customer.update") == []


async def test_staff_update_unknown_customer(client, as_staff):
    _, headers = await as_staff(Role.agent)

    r = await client.patch(f"{CUSTOMERS}/999999", json={"locale": "en"}, headers=headers)

    assert r.status_code == 404


async def test_customer_transactions_for_staff(client, session, as_customer, as_staff):
    customer, _ = await as_customer(balance=10000)
    await as_customer(balance=55555)
    await ledger.post(
        session, customer_id=customer.id, amount=-2500, reason=TransactionReason.charge
    )
    await session.commit()
    _, headers = await as_staff(Role.agent)

    r = await client.get(f"{CUSTOMERS}/{customer.id}/transactions", headers=headers)

    assert r.status_code == 200, r.text
    assert [t["amount"] for t in r.json()["items"]] == [-2500, 10000]
    assert [t["balance_after"] for t in r.json()["items"]] == [7500, 10000]
    page = await client.get(
        f"{CUSTOMERS}/{customer.id}/transactions", params={"limit": 1}, headers=headers
    )
    assert len(page.json()["items"]) == 1
    assert page.json()["next_before_id"] == page.json()["items"][0]["id"]
    missing = await client.get(f"{CUSTOMERS}/999999/transactions", headers=headers)
    assert missing.status_code == 404
    bad = await client.get(
        f"{CUSTOMERS}/{customer.id}/transactions", params={"limit": 500}, headers=headers
    )
    assert (bad.status_code, bad.json()["error"]) == (422, "validation_error")
