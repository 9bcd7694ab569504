"""Customer self-service: profile, notification preferences, push devices."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.customers.service import MAX_DEVICES_PER_CUSTOMER
from backend.models import AuditEntry, Channel, ChannelIdentity, Customer, Role, User

ME = "/api/v1/me"
PREFS = "/api/v1/me/notification-preferences"
DEVICES = "/api/v1/me/devices"
TOKEN = "fGx1_abc-DEF:APA91bH" + "x" * 120


async def _audit(session, action):
    return list(
        (await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all()
    )


# --- profile --------------------------------------------------------------------------------


async def test_get_profile(client, as_customer):
    customer, headers = await as_customer(
        phone="+79000000001",
        full_name="Иванов Иван",
        address={"city": "Москва", "street": "ул. Примерная", "building": "1"},
        network_area="demo-area",
        network_node="node-1",
    )

    r = await client.get(ME, headers=headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == customer.id
    assert body["contract_number"] == customer.contract_number
    assert body["full_name"] == "Иванов Иван"
    assert body["phone"] == "+79000000001"
    assert body["email"] == customer.email
    assert body["locale"] == "ru"
    assert body["address"]["city"] == "Москва"
    assert body["address"]["apartment"] is None
    assert body["network_area"] == "demo-area"
    assert body["network_node"] == "node-1"
    assert body["notification_preferences"] == {
        "billing": True,
        "outages": True,
        "tickets": True,
        "marketing": False,
        "channels": None,
        "quiet_hours": None,
    }


async def test_profile_needs_a_customer(client, as_staff):
    _, headers = await as_staff(Role.admin)

    assert (await client.get(ME)).status_code == 401
    r = await client.get(ME, headers=headers)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")


async def test_update_profile(client, session, as_customer):
    customer, headers = await as_customer(address={"city": "Москва", "street": "Ленина"})

    r = await client.patch(
        ME,
        json={
            "phone": "8 (912) 345-67-89",
            "email": "New.Mail@Example.COM",
            "locale": "en",
            "address": {"street": "Мира", "apartment": "12", "city": None, "text": " дом у парка "},
        },
        headers=headers,
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["phone"] == "+79123456789"
    assert body["email"] == "new.mail@example.com"
    assert body["locale"] == "en"
    assert body["address"] == {
        "city": None,
        "street": "Мира",
        "building": None,
        "apartment": "12",
        "postcode": None,
        "text": "дом у парка",
    }
    stored = await session.get(Customer, customer.id, populate_existing=True)
    assert stored is not None
    assert stored.address == {"street": "Мира", "apartment": "12", "text": "дом у парка"}
    # contact data only: the sign-in stays
    user = await session.get(User, stored.user_id)
    assert user is not None and user.email != "new.mail@example.com"
    entries = await _audit(session, "customer.update")
    assert len(entries) == 1
    assert entries[0].actor_user_id == stored.user_id
    assert entries[0].actor_role == "customer"
    assert entries[0].object_id == str(customer.id)
    assert entries[0].details["fields"] == ["address", "email", "locale", "phone"]


async def test_update_profile_without_changes_is_not_audited(client, session, as_customer):
    _, headers = await as_customer()

    r = await client.patch(ME, json={"locale": "ru"}, headers=headers)

    assert r.status_code == 200
    assert await _audit(session, "customer.update") == []


async def test_clear_contact_phone(client, session, as_customer):
    _, headers = await as_customer(phone="+79000000002")

    r = await client.patch(ME, json={"phone": None}, headers=headers)

    assert r.status_code == 200
    assert r.json()["phone"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"phone": "12"},
        {"phone": "not a phone"},
        {"phone": "+7" + "9" * 20},
        {"email": "not-an-email"},
        {"email": "a@"},
        {"locale": "de"},
        {"locale": None},
        {"address": None},
        {"address": {"floor": "3"}},
        {"address": {"text": "x" * 501}},
        {"address": "Москва"},
        {"full_name": "Другое Имя"},
        {"contract_number": "X-1"},
        {"network_area": "other"},
        [],
    ],
)
async def test_update_profile_rejects_bad_input(client, session, as_customer, body):
    customer, headers = await as_customer(phone="+79000000003")

    r = await client.patch(ME, json=body, headers=headers)

    assert r.status_code == 422, (body, r.text)
    assert r.json()["error"] == "validation_error"
    stored = await session.get(Customer, customer.id, populate_existing=True)
    assert stored is not None and stored.phone == "+79000000003" and stored.locale == "ru"


# --- notification preferences ---------------------------------------------------------------


async def test_notification_preferences(client, session, as_customer):
    customer, headers = await as_customer()
    new = {"billing": False, "outages": True, "tickets": False, "marketing": True}

    before = await client.get(PREFS, headers=headers)
    put = await client.put(PREFS, json=new, headers=headers)
    after = await client.get(PREFS, headers=headers)

    defaults = {"channels": None, "quiet_hours": None}
    assert before.json() == {
        "billing": True, "outages": True, "tickets": True, "marketing": False, **defaults
    }  # fmt: skip
    assert put.status_code == 200, put.text
    assert put.json() == {**new, **defaults}
    assert after.json() == {**new, **defaults}
    assert (await client.get(ME, headers=headers)).json()["notification_preferences"] == {
        **new,
        **defaults,
    }
    stored = await session.get(Customer, customer.id, populate_existing=True)
    assert stored is not None and stored.notification_preferences == new
    entries = await _audit(session, "customer.notification_preferences")
    assert len(entries) == 1 and entries[0].details["marketing"] is True


async def test_channels_per_category_and_quiet_hours(client, session, as_customer):
    customer, headers = await as_customer()
    switches = {"billing": True, "outages": True, "tickets": True, "marketing": False}
    body = {
        **switches,
        "channels": {"billing": ["email", "telegram"], "outages": ["sms"]},
        "quiet_hours": "23:00-08:00",
    }
    put = await client.put(PREFS, json=body, headers=headers)
    assert put.status_code == 200, put.text
    assert put.json() == body

    # today's body (the four switches only) keeps the channels and the quiet hours
    again = await client.put(PREFS, json={**switches, "billing": False}, headers=headers)
    assert again.json()["channels"] == body["channels"]
    assert again.json()["quiet_hours"] == "23:00-08:00"
    assert again.json()["billing"] is False

    # null goes back to the provider's defaults; "" means no quiet hours at all
    reset = await client.put(
        PREFS, json={**switches, "channels": None, "quiet_hours": ""}, headers=headers
    )
    assert reset.json()["channels"] is None and reset.json()["quiet_hours"] == ""
    stored = await session.get(Customer, customer.id, populate_existing=True)
    assert stored is not None
    assert stored.notification_preferences == {**switches, "quiet_hours": ""}


SWITCHES = {"billing": True, "outages": True, "tickets": True, "marketing": True}


@pytest.mark.parametrize(
    "body",
    [
        {"billing": True, "outages": True, "tickets": True, "marketing": True, "sms": True},
        {"billing": True, "outages": True, "tickets": True},
        {"billing": "yes", "outages": True, "tickets": True, "marketing": True},
        {"billing": 1, "outages": True, "tickets": True, "marketing": True},
        {"billing": None, "outages": True, "tickets": True, "marketing": True},
        {},
        {**SWITCHES, "channels": {"billing": ["pigeon"]}},
        {**SWITCHES, "channels": {"weather": ["email"]}},
        {**SWITCHES, "channels": {"billing": []}},
        {**SWITCHES, "channels": {"billing": ["email", "email"]}},
        {**SWITCHES, "quiet_hours": "25:00-08:00"},
        {**SWITCHES, "quiet_hours": "night"},
    ],
)
async def test_notification_preferences_reject_bad_input(client, session, as_customer, body):
    _, headers = await as_customer()

    r = await client.put(PREFS, json=body, headers=headers)

    assert r.status_code == 422, (body, r.text)
    assert r.json()["error"] == "validation_error"
    assert (await client.get(PREFS, headers=headers)).json()["billing"] is True


# --- push devices ---------------------------------------------------------------------------


async def _identities(session):
    return list(
        (
            await session.scalars(select(ChannelIdentity).execution_options(populate_existing=True))
        ).all()
    )


async def test_register_list_and_refresh_a_device(client, session, as_customer):
    customer, headers = await as_customer()

    r = await client.post(
        DEVICES,
        json={"token": TOKEN, "platform": "android", "app_version": "1.4.2"},
        headers=headers,
    )

    assert r.status_code == 201, r.text
    assert r.json()["token"] == TOKEN
    assert r.json()["platform"] == "android"
    assert r.json()["app_version"] == "1.4.2"
    assert r.json()["is_reachable"] is True
    [identity] = await _identities(session)
    assert identity.channel is Channel.fcm
    assert identity.customer_id == customer.id
    assert identity.external_id == TOKEN
    assert identity.details == {"platform": "android", "app_version": "1.4.2"}

    # the app registers again on every start: a refresh, not a new device
    again = await client.post(
        DEVICES,
        json={"token": TOKEN, "platform": "android", "app_version": "1.5.0"},
        headers=headers,
    )
    assert again.status_code == 200, again.text
    assert again.json()["app_version"] == "1.5.0"
    assert len(await _identities(session)) == 1

    listed = await client.get(DEVICES, headers=headers)
    assert [d["token"] for d in listed.json()] == [TOKEN]
    entries = await _audit(session, "customer.device_register")
    assert len(entries) == 1
    assert not any("token" in key for key in entries[0].details)


async def test_unreachable_token_is_revived_by_registration(client, session, as_customer):
    customer, headers = await as_customer()
    session.add(
        ChannelIdentity(
            customer_id=customer.id,
            channel=Channel.fcm,
            external_id=TOKEN,
            is_reachable=False,
            unreachable_reason="UNREGISTERED",
        )
    )
    await session.commit()

    r = await client.post(DEVICES, json={"token": TOKEN, "platform": "ios"}, headers=headers)

    assert r.status_code == 200
    [identity] = await _identities(session)
    assert identity.is_reachable is True
    assert identity.unreachable_reason is None
    assert identity.details["platform"] == "ios"


async def test_a_device_moves_to_the_customer_who_registers_it(client, session, as_customer):
    first, first_headers = await as_customer()
    second, second_headers = await as_customer()
    body = {"token": TOKEN, "platform": "web"}
    assert (await client.post(DEVICES, json=body, headers=first_headers)).status_code == 201

    r = await client.post(DEVICES, json=body, headers=second_headers)

    assert r.status_code == 201, r.text
    [identity] = await _identities(session)
    assert identity.customer_id == second.id
    assert (await client.get(DEVICES, headers=first_headers)).json() == []
    assert [d["token"] for d in (await client.get(DEVICES, headers=second_headers)).json()] == [
        TOKEN
    ]
    moved = [
        e
        for e in await _audit(session, "customer.device_register")
        if e.details.get("moved_from_customer_id") == first.id
    ]
    assert len(moved) == 1

    # the previous owner can no longer remove it; the new one can
    gone = await client.delete(f"{DEVICES}/{TOKEN}", headers=first_headers)
    assert (gone.status_code, gone.json()["error"]) == (404, "not_found")
    assert len(await _identities(session)) == 1
    removed = await client.delete(f"{DEVICES}/{TOKEN}", headers=second_headers)
    assert removed.status_code == 204
    assert await _identities(session) == []
    assert len(await _audit(session, "customer.device_remove")) == 1
    again = await client.delete(f"{DEVICES}/{TOKEN}", headers=second_headers)
    assert again.status_code == 404


async def test_other_channels_are_not_devices(client, session, as_customer):
    customer, headers = await as_customer()
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id="42")
    )
    await session.commit()

    assert (await client.get(DEVICES, headers=headers)).json() == []
    assert (await client.delete(f"{DEVICES}/42", headers=headers)).status_code == 404
    assert len(await _identities(session)) == 1


async def test_devices_are_capped_per_customer(client, session, as_customer):
    _, headers = await as_customer()

    for i in range(MAX_DEVICES_PER_CUSTOMER + 2):
        r = await client.post(
            DEVICES, json={"token": f"tok-{i}", "platform": "web"}, headers=headers
        )
        assert r.status_code == 201

    tokens = [d["token"] for d in (await client.get(DEVICES, headers=headers)).json()]
    assert len(tokens) == MAX_DEVICES_PER_CUSTOMER
    assert "tok-0" not in tokens and "tok-1" not in tokens
    assert f"tok-{MAX_DEVICES_PER_CUSTOMER + 1}" in tokens


@pytest.mark.parametrize(
    "body",
    [
        {"token": "", "platform": "android"},
        {"token": "x" * 513, "platform": "android"},
        {"token": "has space", "platform": "android"},
        {"token": "a/b", "platform": "android"},
        {"token": "abc", "platform": "windows"},
        {"token": "abc"},
        {"platform": "ios"},
        {"token": "abc", "platform": "ios", "app_version": "x" * 33},
        {"token": "abc", "platform": "ios", "owner": 1},
        {"token": 123, "platform": "ios"},
    ],
)
async def test_register_device_rejects_bad_input(client, session, as_customer, body):
    _, headers = await as_customer()

    r = await client.post(DEVICES, json=body, headers=headers)

    assert r.status_code == 422, (body, r.text)
    assert r.json()["error"] == "validation_error"
    assert await _identities(session) == []


async def test_long_token_is_accepted(client, as_customer):
    _, headers = await as_customer()

    r = await client.post(DEVICES, json={"token": "t" * 512, "platform": "ios"}, headers=headers)

    assert r.status_code == 201
