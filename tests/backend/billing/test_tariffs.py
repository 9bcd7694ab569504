from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.models import AuditEntry, BillingPeriod, Role, Tariff
from tests.factories import make_tariff

TARIFFS = "/api/v1/tariffs"
ADMIN_TARIFFS = "/api/v1/admin/tariffs"

VALID = {
    "name": "Дом 300",
    "description": "Для семьи",
    "speed_down_mbps": 300,
    "speed_up_mbps": 150,
    "price": 70000,
}


async def _audit(session, action):
    return list(
        (await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all()
    )


async def test_public_list_is_active_only_and_sorted_by_price(client, session):
    await make_tariff(session, name="Гигабит", price=120000)
    await make_tariff(session, name="Дом 100", price=50000)
    await make_tariff(session, name="Старый", price=10000, is_active=False)
    await make_tariff(session, name="Дом 300", price=70000)
    await session.commit()

    r = await client.get(TARIFFS, params={"include_inactive": "true"})

    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()] == ["Дом 100", "Дом 300", "Гигабит"]
    first = r.json()[0]
    assert first["price"] == 50000
    assert first["currency"] == "RUB"
    assert first["billing_period"] == "monthly"
    assert first["is_active"] is True


async def test_staff_list_includes_inactive(client, session, as_staff, as_customer):
    await make_tariff(session, name="Дом 100", price=50000)
    await make_tariff(session, name="Старый", price=10000, is_active=False)
    await session.commit()
    _, agent = await as_staff(Role.agent)
    _, customer = await as_customer()

    r = await client.get(ADMIN_TARIFFS, headers=agent)

    assert r.status_code == 200, r.text
    assert [(t["name"], t["is_active"]) for t in r.json()] == [
        ("Старый", False),
        ("Дом 100", True),
    ]
    assert (await client.get(ADMIN_TARIFFS, headers=customer)).status_code == 403
    assert (await client.get(ADMIN_TARIFFS)).status_code == 401


async def test_admin_creates_a_tariff(client, session, as_staff):
    admin, headers = await as_staff(Role.admin)

    r = await client.post(TARIFFS, json=VALID, headers=headers)

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "Дом 300"
    assert body["currency"] == "RUB"
    assert body["billing_period"] == "monthly"
    assert body["is_active"] is True
    stored = await session.get(Tariff, body["id"])
    assert stored is not None and stored.price == 70000
    entries = await _audit(session, "tariff.create")
    assert [(e.actor_user_id, e.object_id) for e in entries] == [(admin.id, str(body["id"]))]
    listed = await client.get(TARIFFS)
    assert [t["id"] for t in listed.json()] == [body["id"]]


async def test_create_daily_tariff_with_explicit_currency(client, as_staff):
    _, headers = await as_staff(Role.admin)

    r = await client.post(
        TARIFFS,
        json={**VALID, "currency": "RUB", "billing_period": "daily", "price": 0},
        headers=headers,
    )

    assert r.status_code == 201, r.text
    assert r.json()["billing_period"] == "daily"
    assert r.json()["price"] == 0


async def test_tariff_name_must_be_unique(client, session, as_staff):
    await make_tariff(session, name="Дом 300")
    await session.commit()
    _, headers = await as_staff(Role.admin)

    for name in ("Дом 300", "  дом 300 "):
        r = await client.post(TARIFFS, json={**VALID, "name": name}, headers=headers)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "tariff_name_taken"


@pytest.mark.parametrize(
    "change",
    [
        {"speed_down_mbps": 0},
        {"speed_down_mbps": 100_001},
        {"speed_up_mbps": -1},
        {"speed_up_mbps": True},
        {"speed_down_mbps": "100"},
        {"speed_down_mbps": 10.5},
        {"price": -1},
        {"price": 10_000_000_01},
        {"price": 10**20},
        {"price": "70000"},
        {"price": None},
        {"currency": "USD"},
        {"currency": "rub"},
        {"billing_period": "weekly"},
        {"name": ""},
        {"name": "x" * 101},
        {"is_active": False},
        {"unknown": 1},
    ],
)
async def test_create_rejects_bad_values(client, session, as_staff, change):
    _, headers = await as_staff(Role.admin)

    r = await client.post(TARIFFS, json={**VALID, **change}, headers=headers)

    assert r.status_code == 422, (change, r.text)
    assert r.json()["error"] == "validation_error"
    assert (await session.scalars(select(Tariff))).all() == []


async def test_create_rejects_malformed_json(client, as_staff):
    _, headers = await as_staff(Role.admin)

    r = await client.post(
        TARIFFS, content=b"{not json", headers={**headers, "Content-Type": "application/json"}
    )

    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"


async def test_only_admins_change_tariffs(client, session, as_staff, as_customer):
    tariff = await make_tariff(session)
    await session.commit()
    _, agent = await as_staff(Role.agent)
    _, customer = await as_customer()
    _, admin_without_2fa = await as_staff(Role.admin, mfa=False)
    requests = [
        ("POST", TARIFFS, VALID),
        ("PATCH", f"{TARIFFS}/{tariff.id}", {"price": 1}),
        ("POST", f"{TARIFFS}/{tariff.id}/deactivate", None),
    ]
    for method, url, body in requests:
        r = await client.request(method, url, json=body, headers=agent)
        assert (r.status_code, r.json()["error"]) == (403, "forbidden"), url
        r = await client.request(method, url, json=body, headers=customer)
        assert r.status_code == 403, url
        r = await client.request(method, url, json=body, headers=admin_without_2fa)
        assert (r.status_code, r.json()["error"]) == (403, "mfa_required"), url
        assert (await client.request(method, url, json=body)).status_code == 401
    await session.refresh(tariff)
    assert tariff.price == 50000 and tariff.is_active


async def test_admin_updates_a_tariff(client, session, as_staff):
    tariff = await make_tariff(session, name="Дом 100", price=50000)
    await session.commit()
    admin, headers = await as_staff(Role.admin)

    r = await client.patch(
        f"{TARIFFS}/{tariff.id}",
        json={"price": 55000, "description": None, "billing_period": "daily"},
        headers=headers,
    )

    assert r.status_code == 200, r.text
    assert r.json()["price"] == 55000
    assert r.json()["billing_period"] == "daily"
    await session.refresh(tariff)
    assert tariff.price == 55000
    assert tariff.billing_period is BillingPeriod.daily
    entries = await _audit(session, "tariff.update")
    assert len(entries) == 1
    assert entries[0].actor_user_id == admin.id
    assert entries[0].details["changes"] == {"price": 55000, "billing_period": "daily"}


async def test_update_name_conflict_and_bad_values(client, session, as_staff):
    tariff = await make_tariff(session, name="Дом 100")
    await make_tariff(session, name="Дом 300")
    await session.commit()
    _, headers = await as_staff(Role.admin)
    url = f"{TARIFFS}/{tariff.id}"

    r = await client.patch(url, json={"name": "ДОМ 300"}, headers=headers)
    assert (r.status_code, r.json()["error"]) == (409, "tariff_name_taken")
    # renaming to its own name (another case) is fine
    r = await client.patch(url, json={"name": "дом 100"}, headers=headers)
    assert r.status_code == 200, r.text
    for body in (
        {"name": None},
        {"price": None},
        {"price": -5},
        {"speed_up_mbps": 0},
        {"currency": "EUR"},
        {"id": 5},
    ):
        r = await client.patch(url, json=body, headers=headers)
        assert (r.status_code, r.json()["error"]) == (422, "validation_error"), body


async def test_update_unknown_tariff(client, as_staff):
    _, headers = await as_staff(Role.admin)

    r = await client.patch(f"{TARIFFS}/999999", json={"price": 1}, headers=headers)
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = await client.post(f"{TARIFFS}/999999/deactivate", headers=headers)
    assert r.status_code == 404
    r = await client.patch(f"{TARIFFS}/0", json={"price": 1}, headers=headers)
    assert r.status_code == 422


async def test_deactivate_is_idempotent(client, session, as_staff):
    tariff = await make_tariff(session)
    await session.commit()
    _, headers = await as_staff(Role.admin)

    first = await client.post(f"{TARIFFS}/{tariff.id}/deactivate", headers=headers)
    second = await client.post(f"{TARIFFS}/{tariff.id}/deactivate", headers=headers)

    assert first.status_code == second.status_code == 200
    assert first.json()["is_active"] is False
    assert second.json() == first.json()
    assert len(await _audit(session, "tariff.deactivate")) == 1
    assert (await client.get(TARIFFS)).json() == []
