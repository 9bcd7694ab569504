"""Who reaches a conversation (docs/security.md, "Conversations and linked accounts"): the
customer the adapter vouches for in this turn, never one a conversation remembers; and on the
agent side, the queue, one's own and what was transferred to one, with every other look
audited and closing only by the holder or an admin."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select

from backend.app import create_app
from backend.config import Settings
from backend.customers import linking as link_service
from backend.db import create_engine, create_sessionmaker, unit_of_work
from backend.i18n import t
from backend.migrate import upgrade
from backend.models import AuditEntry, Conversation, ConversationState, Role
from backend.state import Resources
from dialogs import access
from dialogs.engine import Engine
from dialogs.types import DocumentOut, payload
from tests.dialogs.engine.conftest import Chat, KeywordParser, texts
from tests.factories import access_token_for, auth_header, make_customer, make_user

AGENT_API = "/api/v1/agent/conversations"


@pytest.fixture
async def api(resources: Resources) -> AsyncIterator[AsyncClient]:
    app = create_app(resources.settings, resources=resources, roles=[])
    transport = ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class Staff:
    def __init__(self, user_id: int) -> None:
        self.id = user_id  # kept: the test session's objects expire when it reloads


async def _staff(session, resources: Resources, role: Role = Role.agent):
    user = await make_user(session, role=role)
    await session.commit()
    return Staff(user.id), auth_header(access_token_for(resources.settings, user, mfa=True))


async def _audits(session, action: str) -> list[AuditEntry]:
    session.expire_all()
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(await session.scalars(query))


# --- the customer side: the adapter's word for this turn is the only one ---------------------


async def test_a_turn_without_a_customer_is_anonymous(engine: Engine, session) -> None:
    _, customer = await make_customer(session, balance=10000)
    await session.commit()
    linked = Chat(engine, customer_id=customer.id, locale="en")
    assert texts(await linked.say("balance")).startswith(t("dialogs-balance", "en", amount=1)[:5])
    # a documents question is open when the link goes (unlinked in another process, say)
    assert texts(await linked.say(payload=payload("get_documents", "start"))) == t(
        "dialogs-support-docs-type", "en"
    )

    anonymous = Chat(engine, customer_id=None, locale="en")
    anonymous.seq = linked.seq
    assert texts(await anonymous.say("balance")) == t("dialogs-identify-telegram", "en")
    pressed = await anonymous.say(payload=payload("get_documents", "type", "contract"))
    assert not [r for r in pressed if isinstance(r, DocumentOut)]
    conv = await session.scalar(select(Conversation).where(Conversation.chat_id == "100"))
    assert conv is not None and conv.customer_id is None


async def test_a_flow_in_progress_never_crosses_to_another_customer(
    engine: Engine, session
) -> None:
    _, first = await make_customer(session)
    _, second = await make_customer(session)
    await session.commit()
    chat = Chat(engine, customer_id=first.id, locale="en")
    assert texts(await chat.say(payload=payload("get_documents", "start"))) == t(
        "dialogs-support-docs-type", "en"
    )
    # the same chat now speaks for another customer: the first one's question is gone
    chat.customer_id = second.id
    pressed = await chat.say(payload=payload("get_documents", "type", "contract"))
    assert not [r for r in pressed if isinstance(r, DocumentOut)]
    assert texts(pressed).startswith(t("dialogs-stale-button", "en"))
    # and the second customer's own request works
    asked = await chat.say(payload=payload("get_documents", "start"))
    assert texts(asked) == t("dialogs-support-docs-type", "en")


# --- the agent side ----------------------------------------------------------------------------


async def _conversations(engine: Engine, session) -> dict[str, int]:
    """Four chats: one with the bot only, three waiting for an agent. name -> id"""
    _, customer = await make_customer(session)
    await session.commit()
    await Chat(engine, chat_id="1", customer_id=customer.id, locale="en").say("balance")
    for chat_id in ("2", "3", "4"):
        await Chat(engine, chat_id=chat_id, locale="en").say("agent please")
    rows = (await session.execute(select(Conversation.chat_id, Conversation.id))).all()
    return {chat: conv_id for chat, conv_id in rows}


async def test_agents_list_the_queue_their_own_and_what_is_transferred_to_them(
    engine: Engine, api: AsyncClient, session, resources: Resources
) -> None:
    ids = await _conversations(engine, session)
    anna, h_anna = await _staff(session, resources)
    boris, h_boris = await _staff(session, resources)
    _, h_admin = await _staff(session, resources, Role.admin)
    for chat, headers in (("2", h_anna), ("3", h_boris)):
        r = await api.post(f"{AGENT_API}/{ids[chat]}/claim", headers=headers)
        assert r.status_code == 200, r.text

    async def listed(headers: dict[str, str], state: str) -> list[int]:
        r = await api.get(AGENT_API, headers=headers, params={"state": state})
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await listed(h_anna, "waiting_agent") == [ids["4"]]
    assert await listed(h_anna, "agent") == [ids["2"]]
    assert await listed(h_boris, "agent") == [ids["3"]]
    assert sorted(await listed(h_admin, "agent")) == sorted([ids["2"], ids["3"]])
    # conversations that were never handed over are not an agent's list
    for state in ("bot", "closed"):
        r = await api.get(AGENT_API, headers=h_anna, params={"state": state})
        assert r.status_code == 403 and r.json()["error"] == "list_not_allowed"
    assert await listed(h_admin, "bot") == [ids["1"]]

    # Boris hands his conversation to Anna: now it is hers, and only hers
    r = await api.post(f"{AGENT_API}/{ids['3']}/transfer", headers=h_boris,
                       json={"agent_id": anna.id})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["agent_id"]) == ("agent", anna.id)
    assert sorted(await listed(h_anna, "agent")) == sorted([ids["2"], ids["3"]])
    assert await listed(h_boris, "agent") == []
    (moved,) = await _audits(session, "conversation.transferred")
    assert moved.actor_user_id == boris.id and moved.object_id == str(ids["3"])
    assert (moved.details["from_agent_id"], moved.details["to_agent_id"]) == (boris.id, anna.id)
    # the customer is told, through the outbox like every agent-side message
    detail = (await api.get(f"{AGENT_API}/{ids['3']}", headers=h_anna)).json()
    assert detail["messages"][-1]["text"] == t("dialogs-handover-transferred", "en")
    # Anna replies; Boris no longer may, nor transfer it back
    r = await api.post(f"{AGENT_API}/{ids['3']}/messages", headers=h_anna, json={"text": "hi"})
    assert r.status_code == 201
    r = await api.post(f"{AGENT_API}/{ids['3']}/messages", headers=h_boris, json={"text": "x"})
    assert r.status_code == 403 and r.json()["error"] == "not_your_conversation"
    r = await api.post(f"{AGENT_API}/{ids['3']}/transfer", headers=h_boris,
                       json={"agent_id": boris.id})  # fmt: skip
    assert r.status_code == 403 and r.json()["error"] == "not_your_conversation"


async def test_transfer_refusals(
    engine: Engine, api: AsyncClient, session, resources: Resources
) -> None:
    ids = await _conversations(engine, session)
    anna, h_anna = await _staff(session, resources)
    boris, _ = await _staff(session, resources)
    admin, h_admin = await _staff(session, resources, Role.admin)
    customer_user, _ = await make_customer(session)
    gone = await make_user(session, role=Role.agent, is_active=False)
    await session.commit()
    assert customer_user is not None
    await api.post(f"{AGENT_API}/{ids['2']}/claim", headers=h_anna)
    url = f"{AGENT_API}/{ids['2']}/transfer"
    for target in (customer_user.id, gone.id, 999_999):
        r = await api.post(url, headers=h_anna, json={"agent_id": target})
        assert r.status_code == 404 and r.json()["error"] == "agent_not_found", r.text
    for body in ({}, {"agent_id": "x"}, {"agent_id": 0}, {"agent_id": 1, "more": 1}):
        assert (await api.post(url, headers=h_anna, json=body)).status_code == 422
    r = await api.post(url, headers=h_anna, json={"agent_id": anna.id})
    assert r.status_code == 409 and r.json()["error"] == "already_holder"
    # with the bot: nothing to transfer
    r = await api.post(f"{AGENT_API}/{ids['1']}/transfer", headers=h_admin,
                       json={"agent_id": boris.id})  # fmt: skip
    assert r.status_code == 409 and r.json()["error"] == "not_handed_over"
    # an admin may move anyone's, and assign a waiting one
    r = await api.post(url, headers=h_admin, json={"agent_id": boris.id})
    assert r.status_code == 200 and r.json()["agent_id"] == boris.id
    r = await api.post(f"{AGENT_API}/{ids['4']}/transfer", headers=h_admin,
                       json={"agent_id": admin.id})  # fmt: skip
    assert r.status_code == 200 and r.json()["state"] == "agent"
    # an agent may not assign from the queue (claim it instead)
    r = await api.post(f"{AGENT_API}/{ids['3']}/transfer", headers=h_anna,
                       json={"agent_id": anna.id})  # fmt: skip
    assert r.status_code == 403 and r.json()["error"] == "not_your_conversation"
    assert (await api.post(f"{AGENT_API}/999999/transfer", headers=h_anna,
                           json={"agent_id": boris.id})).status_code == 404  # fmt: skip


async def test_opening_a_conversation_outside_ones_lists_is_audited(
    engine: Engine, api: AsyncClient, session, resources: Resources
) -> None:
    ids = await _conversations(engine, session)
    anna, h_anna = await _staff(session, resources)
    _, h_boris = await _staff(session, resources)
    await api.post(f"{AGENT_API}/{ids['3']}/claim", headers=h_boris)
    await api.post(f"{AGENT_API}/{ids['2']}/claim", headers=h_anna)

    # the queue and one's own: no audit row
    for chat in ("2", "4"):
        assert (await api.get(f"{AGENT_API}/{ids[chat]}", headers=h_anna)).status_code == 200
        r = await api.get(f"{AGENT_API}/{ids[chat]}/messages", headers=h_anna)
        assert r.status_code == 200 and r.json()["items"]
    assert await _audits(session, "conversation.viewed") == []

    # a bot-only conversation and another agent's: allowed, and written down with the reason
    r = await api.get(f"{AGENT_API}/{ids['1']}", headers=h_anna,
                      params={"reason": "the customer called about it"})  # fmt: skip
    assert r.status_code == 200 and r.json()["messages"]
    r = await api.get(f"{AGENT_API}/{ids['3']}/messages", headers=h_anna)
    assert r.status_code == 200
    first, second = await _audits(session, "conversation.viewed")
    assert (first.actor_user_id, first.object_id) == (anna.id, str(ids["1"]))
    assert first.details["reason"] == "the customer called about it"
    assert first.details["state"] == "bot"
    assert (second.object_id, second.details["state"]) == (str(ids["3"]), "agent")
    assert second.details["reason"] == "not_in_agent_lists"
    assert second.details["holder_id"] is not None
    r = await api.get(f"{AGENT_API}/{ids['1']}", headers=h_anna, params={"reason": "x" * 501})
    assert r.status_code == 422
    assert (await api.get(f"{AGENT_API}/999999/messages", headers=h_anna)).status_code == 404


async def test_closing_only_a_handed_over_conversation_by_its_holder_or_an_admin(
    engine: Engine, api: AsyncClient, session, resources: Resources
) -> None:
    ids = await _conversations(engine, session)
    _, h_anna = await _staff(session, resources)
    _, h_boris = await _staff(session, resources)
    _, h_admin = await _staff(session, resources, Role.admin)
    body = {"resolution": "done"}
    await api.post(f"{AGENT_API}/{ids['2']}/claim", headers=h_anna)

    async def state_of(chat: str) -> ConversationState:
        session.expire_all()
        conv = await session.get(Conversation, ids[chat])
        assert conv is not None
        return ConversationState(conv.state)

    # with the bot: nobody closes it, and the bot's flow state stays as it was
    for headers in (h_anna, h_admin):
        r = await api.post(f"{AGENT_API}/{ids['1']}/close", headers=headers, json=body)
        assert r.status_code == 409 and r.json()["error"] == "not_handed_over", r.text
    assert await state_of("1") is ConversationState.bot
    # held by Anna: Boris may not; waiting: an agent must claim it first
    r = await api.post(f"{AGENT_API}/{ids['2']}/close", headers=h_boris, json=body)
    assert r.status_code == 403 and r.json()["error"] == "not_your_conversation"
    r = await api.post(f"{AGENT_API}/{ids['3']}/close", headers=h_boris, json=body)
    assert r.status_code == 403 and r.json()["error"] == "not_your_conversation"
    assert await state_of("2") is ConversationState.agent
    assert await state_of("3") is ConversationState.waiting_agent
    # the holder and an admin may
    r = await api.post(f"{AGENT_API}/{ids['2']}/close", headers=h_anna, json=body)
    assert r.status_code == 200 and r.json()["state"] == "closed"
    r = await api.post(f"{AGENT_API}/{ids['3']}/close", headers=h_admin, json=body)
    assert r.status_code == 200 and r.json()["state"] == "closed"
    r = await api.post(f"{AGENT_API}/{ids['3']}/close", headers=h_admin, json=body)
    assert r.status_code == 409 and r.json()["error"] == "already_closed"


async def test_the_cut_on_the_embedded_default(tmp_path, resources: Resources) -> None:
    """SQLite (no row locks, no data-modifying CTEs): unlinking cuts the chat there too."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cut.db'}",
        redis_url=resources.settings.redis_url,
        _env_file=None,  # type: ignore[call-arg]
    )
    db = create_engine(settings)
    await upgrade(db)
    res = dataclasses.replace(
        resources, settings=settings, engine=db, sessionmaker=create_sessionmaker(db)
    )
    try:
        async with unit_of_work(res.sessionmaker) as s:
            _, customer = await make_customer(s, balance=10000)
            await link_service.link_telegram(s, customer.id, 100, actor=None, conversations=access)
            customer_id = customer.id
        chat = Chat(Engine(res, KeywordParser()), customer_id=customer_id, locale="en")
        assert texts(await chat.say("balance")).startswith(t("dialogs-balance", "en", amount=1)[:5])
        await chat.say(payload=payload("get_documents", "start"))
        async with unit_of_work(res.sessionmaker) as s:
            assert (
                await link_service.unlink_telegram(s, customer_id, actor=None, conversations=access)
                == 1
            )
        # this process's Redis copy of the flow state is older than the column now
        chat.customer_id = None
        pressed = await chat.say(payload=payload("get_documents", "type", "contract"))
        assert not [r for r in pressed if isinstance(r, DocumentOut)]
        assert texts(await chat.say("balance")) == t("dialogs-identify-telegram", "en")
        async with res.sessionmaker() as s:
            conv = await s.scalar(select(Conversation))
            assert conv is not None and conv.customer_id is None
    finally:
        await db.dispose()
