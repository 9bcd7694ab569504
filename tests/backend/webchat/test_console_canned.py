"""Canned responses: admins manage them (audited), agents read the active ones and send them
filled in from the customer's card."""

from __future__ import annotations

from sqlalchemy import select

from backend.models import CannedResponse, ConversationMessage, Role
from tests.backend.webchat.console_support import AGENT, CONV, audit_actions, claim, queued
from tests.factories import make_customer

CANNED = f"{AGENT}/canned-responses"


async def test_admins_manage_agents_read(client, as_staff, session) -> None:
    admin, admin_h = await as_staff(Role.admin)
    admin_id = admin.id
    _, agent_h = await as_staff()

    r = await client.post(CANNED, headers=agent_h, json={"title": "Hi", "body": "Hello"})
    assert r.status_code == 403
    r = await client.post(CANNED, headers=admin_h, json={"title": "Hi", "body": "Hello {name}"})
    assert r.status_code == 201, r.text
    hello = r.json()
    assert hello["locale"] is None and hello["is_active"] is True
    r = await client.post(
        CANNED, headers=admin_h, json={"title": "Пока", "body": "До свидания", "locale": "ru"}
    )
    bye = r.json()
    for bad in (
        {"title": "", "body": "x"},
        {"title": "x", "body": "x", "locale": "de"},
        {"title": "x"},
        {"title": "a\nb", "body": "x"},
        {"title": "x", "body": "x", "extra": 1},
    ):
        r = await client.post(CANNED, headers=admin_h, json=bad)
        assert r.status_code == 422 and r.json()["error"] == "validation_error", bad

    r = await client.get(CANNED, headers=agent_h, params={"locale": "en"})
    assert [c["title"] for c in r.json()["items"]] == ["Hi"]
    r = await client.get(CANNED, headers=agent_h, params={"locale": "ru"})
    assert {c["title"] for c in r.json()["items"]} == {"Hi", "Пока"}
    r = await client.get(CANNED, headers=agent_h, params={"locale": "xx"})
    assert r.status_code == 422

    r = await client.patch(f"{CANNED}/{bye['id']}", headers=admin_h, json={"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = await client.patch(f"{CANNED}/{bye['id']}", headers=agent_h, json={"is_active": True})
    assert r.status_code == 403
    r = await client.patch(f"{CANNED}/{bye['id']}", headers=admin_h, json={})
    assert r.status_code == 422
    r = await client.patch(f"{CANNED}/{bye['id']}", headers=admin_h, json={"title": None})
    assert r.status_code == 422
    r = await client.patch(f"{CANNED}/999999", headers=admin_h, json={"title": "x"})
    assert r.status_code == 404 and r.json()["error"] == "canned_response_not_found"
    r = await client.get(CANNED, headers=agent_h)
    assert [c["title"] for c in r.json()["items"]] == ["Hi"]
    r = await client.get(CANNED, headers=agent_h, params={"include_inactive": "true"})
    assert r.status_code == 403
    r = await client.get(CANNED, headers=admin_h, params={"include_inactive": "true"})
    assert {c["title"] for c in r.json()["items"]} == {"Hi", "Пока"}

    r = await client.delete(f"{CANNED}/{bye['id']}", headers=agent_h)
    assert r.status_code == 403
    r = await client.delete(f"{CANNED}/{bye['id']}", headers=admin_h)
    assert r.status_code == 204
    r = await client.delete(f"{CANNED}/{bye['id']}", headers=admin_h)
    assert r.status_code == 404
    session.expire_all()
    assert [c.title for c in (await session.scalars(select(CannedResponse))).all()] == ["Hi"]

    for action in ("canned_response.create", "canned_response.update", "canned_response.delete"):
        entries = await audit_actions(session, action)
        assert entries and all(e.actor_user_id == admin_id for e in entries), action


async def test_sending_fills_the_placeholders_from_the_card(
    client, as_staff, session, resources
) -> None:
    _, customer = await make_customer(
        session, full_name="Петров Пётр Иванович", contract_number="D-77", balance=35050
    )
    canned = CannedResponse(
        title="Balance",
        body="{first_name}, {name}: {contract} has {balance}. {agent} here. {unknown} {name",
        locale=None,
        is_active=True,
    )
    off = CannedResponse(title="Off", body="x", locale=None, is_active=False)
    session.add_all([canned, off])
    await session.commit()
    canned_id, off_id = canned.id, off.id
    _, conv_id = await queued(resources, session, customer_id=customer.id, locale="ru")
    agent, staff = await as_staff()
    agent.display_name = "Мария"
    await session.commit()
    agent_id = agent.id
    _, other = await as_staff()
    await claim(client, staff, conv_id)
    url = f"{CONV}/{conv_id}/canned/{canned_id}"
    expected = "Пётр, Петров Пётр Иванович: D-77 has 350,50 ₽. Мария here. {unknown} {name"

    preview = await client.get(url, headers=staff)
    assert preview.status_code == 200 and preview.json() == {"text": expected}
    r = await client.post(url, headers=staff)
    assert r.status_code == 201, r.text
    assert r.json()["text"] == expected
    session.expire_all()
    message = await session.get(ConversationMessage, r.json()["message_id"])
    assert message is not None and message.text == expected and message.agent_id == agent_id
    [entry] = await audit_actions(session, "conversation.canned_sent")
    assert entry.details["canned_id"] == canned_id
    assert len(await audit_actions(session, "conversation.agent_replied")) == 1

    r = await client.post(url, headers=other)
    assert r.status_code == 403 and r.json()["error"] == "not_your_conversation"
    r = await client.post(f"{CONV}/{conv_id}/canned/{off_id}", headers=staff)
    assert r.status_code == 404 and r.json()["error"] == "canned_response_not_found"
    r = await client.post(f"{CONV}/{conv_id}/canned/999999", headers=staff)
    assert r.status_code == 404
    r = await client.post(f"{CONV}/999999/canned/{canned_id}", headers=staff)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_an_anonymous_conversation_keeps_the_customer_placeholders(
    client, as_staff, session, resources
) -> None:
    canned = CannedResponse(title="Hi", body="Hello {name}, {agent} here", is_active=True)
    session.add(canned)
    await session.commit()
    canned_id = canned.id
    _, conv_id = await queued(resources, session, channel="webchat", chat_id="a" * 64)
    _, staff = await as_staff()  # no display name: customers see a generic one
    await claim(client, staff, conv_id)
    r = await client.post(f"{CONV}/{conv_id}/canned/{canned_id}", headers=staff)
    assert r.status_code == 201
    assert r.json()["text"] == "Hello {name}, your operator here"


async def test_the_demo_has_canned_responses_in_both_languages(
    client, as_staff, session, settings
) -> None:
    from backend.seed import seed_demo

    assert await seed_demo(session, settings)
    await session.commit()
    _, staff = await as_staff()
    for locale in ("ru", "en"):
        r = await client.get(CANNED, headers=staff, params={"locale": locale})
        items = r.json()["items"]
        assert len(items) == 3 and any("{balance}" in c["body"] for c in items), locale
