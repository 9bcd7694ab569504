"""Hand-over through the agent API: queue, claim (one winner), reply, release, close, auth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select

from backend.app import create_app
from backend.i18n import t
from backend.models import OutboxMessage, Role
from backend.state import Resources
from dialogs.engine import Engine
from dialogs.types import HandoverNotice
from tests.dialogs.engine.conftest import Chat, texts
from tests.factories import access_token_for, auth_header, make_customer, make_document, make_user


@pytest.fixture
async def api(resources: Resources) -> AsyncIterator[AsyncClient]:
    app = create_app(resources.settings, resources=resources, roles=[])
    transport = ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _agent(session, resources, *, role: Role = Role.agent, mfa: bool = True):
    user = await make_user(session, role=role)
    await session.commit()
    return user, auth_header(access_token_for(resources.settings, user, mfa=mfa))


async def _kinds(session) -> list[str]:
    session.expire_all()
    return [
        m.kind for m in (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    ]


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_handover_round_trip(
    engine: Engine, api: AsyncClient, session, resources: Resources, locale: str
) -> None:
    _, customer = await make_customer(session, balance=10000)
    document = await make_document(session, customer)
    await session.commit()
    document_id, contract = document.id, customer.contract_number
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say("человек" if locale == "ru" else "agent please")
    (notice,) = replies
    assert isinstance(notice, HandoverNotice) and notice.state == "waiting_agent"
    assert notice.text == t("dialogs-handover-waiting", locale, minutes=15)
    assert await _kinds(session) == ["conversation.waiting_agent"]

    agent, headers = await _agent(session, resources)
    queue = (await api.get("/api/v1/agent/conversations", headers=headers)).json()["items"]
    assert [c["state"] for c in queue] == ["waiting_agent"]
    conv_id = queue[0]["id"]

    # while waiting: stored, published, one short notice at most
    listener = resources.redis.pubsub()
    await listener.subscribe(f"conv:{conv_id}")
    first = await chat.say("алло?")
    assert texts(first) == t("dialogs-handover-still-waiting", locale)
    assert await chat.say("ну где же?") == []

    r = await api.post(f"/api/v1/agent/conversations/{conv_id}/claim", headers=headers)
    assert r.status_code == 200 and r.json()["agent_id"] == agent.id
    assert await chat.say("вы тут?") == []  # the bot is silent while an agent holds it
    got = []
    for _ in range(20):
        msg = await listener.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if msg:
            got.append(msg)
        if len(got) == 3:
            break
    await listener.aclose()
    assert len(got) == 3

    r = await api.post(f"/api/v1/agent/conversations/{conv_id}/messages", headers=headers,
                       json={"text": "Здравствуйте, смотрю"})  # fmt: skip
    assert r.status_code == 201
    r = await api.post(f"/api/v1/agent/conversations/{conv_id}/messages", headers=headers,
                       json={"document_id": document_id})  # fmt: skip
    assert r.status_code == 201
    kinds = await _kinds(session)
    assert kinds.count("conversation.customer_message") == 3
    assert kinds.count("conversation.agent_reply") == 3  # joined notice + two replies
    query = select(OutboxMessage).where(OutboxMessage.kind == "conversation.agent_reply")
    reply_row = (await session.scalars(query.order_by(OutboxMessage.id))).all()[1]
    assert reply_row.payload["chat_id"] == "100" and reply_row.payload["channel"] == "telegram"

    detail = (await api.get(f"/api/v1/agent/conversations/{conv_id}", headers=headers)).json()
    assert detail["customer"]["contract_number"] == contract
    assert [m["sender"] for m in detail["messages"]][:2] == ["customer", "bot"]

    r = await api.post(f"/api/v1/agent/conversations/{conv_id}/release", headers=headers)
    assert r.status_code == 200 and r.json()["state"] == "bot"
    replies = await chat.say("баланс")
    assert texts(replies).startswith(t("dialogs-balance", locale, amount=1)[:5])

    # back with the bot, it is no longer the agent's to close
    r = await api.post(f"/api/v1/agent/conversations/{conv_id}/close", headers=headers,
                       json={"resolution": "answered"})  # fmt: skip
    assert r.status_code == 409 and r.json()["error"] == "not_handed_over"


async def test_two_agents_claim_at_once(
    engine: Engine, api: AsyncClient, session, resources: Resources
) -> None:
    await Chat(engine, locale="en").say("agent please")
    _, h1 = await _agent(session, resources)
    _, h2 = await _agent(session, resources, role=Role.admin)
    conv_id = (await api.get("/api/v1/agent/conversations", headers=h1)).json()["items"][0]["id"]
    url = f"/api/v1/agent/conversations/{conv_id}/claim"
    results = await asyncio.gather(api.post(url, headers=h1), api.post(url, headers=h2))
    assert sorted(r.status_code for r in results) == [200, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["error"] == "already_claimed"


async def test_only_the_holder_replies_and_documents_are_the_customers(
    engine: Engine, api: AsyncClient, session, resources: Resources
) -> None:
    _, customer = await make_customer(session)
    _, other = await make_customer(session)
    foreign = await make_document(session, other)
    await session.commit()
    await Chat(engine, customer_id=customer.id, locale="en").say("agent please")
    _, h1 = await _agent(session, resources)
    _, h2 = await _agent(session, resources)
    conv_id = (await api.get("/api/v1/agent/conversations", headers=h1)).json()["items"][0]["id"]
    await api.post(f"/api/v1/agent/conversations/{conv_id}/claim", headers=h1)
    url = f"/api/v1/agent/conversations/{conv_id}/messages"
    r = await api.post(url, headers=h2, json={"text": "hi"})
    assert r.status_code == 403 and r.json()["error"] == "not_your_conversation"
    r = await api.post(url, headers=h1, json={"document_id": foreign.id})
    assert r.status_code == 404
    for body in ({}, {"text": ""}, {"text": "x" * 4001}, {"text": "a", "extra": 1}):
        assert (await api.post(url, headers=h1, json=body)).status_code == 422
    assert (
        await api.post("/api/v1/agent/conversations/999999/claim", headers=h1)
    ).status_code == 404


async def test_agent_api_auth(api: AsyncClient, session, resources: Resources) -> None:
    user, customer = await make_customer(session)
    await session.commit()
    assert user is not None
    customer_headers = auth_header(
        access_token_for(resources.settings, user, customer_id=customer.id)
    )
    r = await api.get("/api/v1/agent/conversations", headers=customer_headers)
    assert r.status_code == 403
    _, no_mfa = await _agent(session, resources, mfa=False)
    r = await api.get("/api/v1/agent/conversations", headers=no_mfa)
    assert r.status_code == 403 and r.json()["error"] == "mfa_required"
    assert (await api.get("/api/v1/agent/conversations")).status_code == 401
