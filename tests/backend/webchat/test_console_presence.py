"""Agent presence: statuses in Redis, the staff list, and the requeue of the conversations whose
customer waits when their agent goes offline (explicitly, or by the sweep once the heartbeat
stops)."""

from __future__ import annotations

import time

from sqlalchemy import select

from backend.i18n import t
from backend.models import (
    Conversation,
    ConversationMessage,
    ConversationState,
    OutboxMessage,
    Role,
)
from backend.webchat import presence
from tests.backend.webchat.console_support import (
    AGENT,
    CONV,
    audit_actions,
    claim,
    listening,
    queued,
)

PRESENCE = f"{AGENT}/presence"


async def test_statuses_and_the_staff_list(client, as_staff, session, resources) -> None:
    agent, staff = await as_staff()
    agent.display_name = "Мария"
    await session.commit()
    agent_id = agent.id
    admin, admin_h = await as_staff(Role.admin)
    admin_id = admin.id

    async with listening(resources, "agents:events") as listener:
        r = await client.put(PRESENCE, headers=staff, json={"status": "online"})
        assert r.status_code == 200 and r.json() == {"status": "online", "requeued": []}
        # the heartbeat repeats it: no new event, no new audit row
        r = await client.put(PRESENCE, headers=staff, json={"status": "online"})
        assert r.status_code == 200
        events = await listener.events(0.5)
    assert events == [
        ("agents:events", {"type": "presence", "user_id": agent_id, "status": "online"})
    ]
    assert await presence.statuses(resources.redis, [agent_id, admin_id]) == {
        agent_id: "online",
        admin_id: "offline",
    }
    assert 0 < await resources.redis.ttl(f"presence:{agent_id}") <= presence.PRESENCE_TTL_SECONDS

    r = await client.put(PRESENCE, headers=admin_h, json={"status": "away"})
    assert r.status_code == 200
    r = await client.get(f"{AGENT}/agents", headers=staff)
    assert r.status_code == 200
    found = {a["id"]: a for a in r.json()["items"]}
    assert found[agent_id] == {
        "id": agent_id, "display_name": "Мария", "role": "agent", "status": "online"
    }  # fmt: skip
    assert found[admin_id]["status"] == "away" and found[admin_id]["role"] == "admin"

    entries = await audit_actions(session, presence.PRESENCE_ACTION)
    assert [(e.actor_user_id, e.details["status"]) for e in entries] == [
        (agent_id, "online"),
        (admin_id, "away"),
    ]
    for bad in ({"status": "busy"}, {}, {"status": "online", "x": 1}):
        r = await client.put(PRESENCE, headers=staff, json=bad)
        assert r.status_code == 422 and r.json()["error"] == "validation_error"
    r = await client.put(PRESENCE, json={"status": "online"})
    assert r.status_code == 401


async def test_going_offline_requeues_only_the_customers_waiting_for_an_answer(
    client, as_staff, session, resources
) -> None:
    chat_a, waiting = await queued(resources, session, chat_id="1")
    _, answered = await queued(resources, session, chat_id="2")
    agent, staff = await as_staff()
    agent_id = agent.id
    await client.put(PRESENCE, headers=staff, json={"status": "online"})
    await claim(client, staff, waiting)
    await claim(client, staff, answered)
    r = await client.post(f"{CONV}/{answered}/messages", headers=staff, json={"text": "Done?"})
    assert r.status_code == 201
    await chat_a.say("still broken")

    async with listening(resources, "agents:events", f"conv:{waiting}") as listener:
        r = await client.put(PRESENCE, headers=staff, json={"status": "offline"})
        events = await listener.events(0.5)
    assert r.status_code == 200 and r.json() == {"status": "offline", "requeued": [waiting]}
    assert ("agents:events", {"type": "queue", "event": "waiting_agent",
            "conversation_id": waiting}) in events  # fmt: skip
    assert ("agents:events", {"type": "presence", "user_id": agent_id,
            "status": "offline"}) in events  # fmt: skip
    assert any(ch == f"conv:{waiting}" for ch, _ in events)

    session.expire_all()
    a = await session.get(Conversation, waiting)
    b = await session.get(Conversation, answered)
    assert a is not None and a.state is ConversationState.waiting_agent and a.agent_id is None
    assert b is not None and b.state is ConversationState.agent and b.agent_id == agent_id
    notice = await session.scalar(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == waiting)
        .order_by(ConversationMessage.id.desc())
        .limit(1)
    )
    assert notice is not None
    assert notice.text == t("dialogs-handover-requeued", "en", minutes=15)
    kinds = [
        o.kind
        for o in await session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.payload["conversation_id"].as_integer() == waiting
            )
        )
    ]
    assert kinds.count("conversation.waiting_agent") == 2  # asked, then requeued
    [entry] = await audit_actions(session, "conversation.requeued")
    assert entry.actor_user_id == agent_id and entry.details["reason"] == "agent_offline"
    assert await presence.statuses(resources.redis, [agent_id]) == {agent_id: "offline"}

    # back in the queue for everyone; offline again changes nothing
    queue = (await client.get(CONV, headers=staff)).json()["items"]
    assert [c["id"] for c in queue] == [waiting]
    r = await client.put(PRESENCE, headers=staff, json={"status": "offline"})
    assert r.json() == {"status": "offline", "requeued": []}


async def test_the_sweep_requeues_for_an_agent_whose_heartbeat_stopped(
    client, as_staff, session, resources
) -> None:
    _, conv_id = await queued(resources, session)
    agent, staff = await as_staff()
    agent_id = agent.id
    _, still_here = await as_staff()
    await client.put(PRESENCE, headers=staff, json={"status": "online"})
    await client.put(PRESENCE, headers=still_here, json={"status": "away"})
    await claim(client, staff, conv_id)

    # nothing has run out yet
    assert await presence.sweep(resources) == {}
    # the browser closed: the key expires (simulated) and the sweep sees the time has passed
    await resources.redis.delete(f"presence:{agent_id}")
    later = time.time() + presence.PRESENCE_TTL_SECONDS + 1
    # the other agent's key is still there (a heartbeat would have kept it): left alone
    assert await presence.sweep(resources, now=later) == {agent_id: [conv_id]}
    assert await presence.sweep(resources, now=later) == {}  # once

    session.expire_all()
    conv = await session.get(Conversation, conv_id)
    assert conv is not None and conv.state is ConversationState.waiting_agent
    [entry] = await audit_actions(session, "conversation.requeued")
    assert entry.actor_user_id is None and entry.details["reason"] == "presence_expired"
    expired = [
        e for e in await audit_actions(session, presence.PRESENCE_ACTION) if e.actor_user_id is None
    ]
    assert [(e.object_id, e.details["reason"]) for e in expired] == [(str(agent_id), "expired")]
