"""An agent's actions reach the visitor's open socket at once (docs/webchat-protocol.md, "Live
delivery"): the agent API announces each change on the conversation's Redis channel after its
commit, so the socket catches up without waiting for the widget's next ping. The test never
pings."""

from __future__ import annotations

from sqlalchemy import select

from backend.models import Conversation
from tests.backend.webchat.conftest import recv_until, send

AGENT_API = "/api/v1/agent/conversations"


def _asked_for_a_person(frames: list[dict]) -> bool:
    return any(f["type"] == "message" and f.get("kind") == "handover" for f in frames)


async def test_the_agents_claim_and_reply_arrive_live(chat_server, as_staff, session) -> None:
    _, staff = await as_staff()
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        await send(ws, {"type": "message", "client_msg_id": "p1", "text": "agent please"})
        await recv_until(ws, _asked_for_a_person)
        conversation_id = (
            await session.scalars(select(Conversation.id).where(Conversation.channel == "webchat"))
        ).one()

        claimed = await server.http.post(f"{AGENT_API}/{conversation_id}/claim", headers=staff)
        assert claimed.status_code == 200, claimed.text
        joined = await recv_until(ws, lambda fs: any(f.get("state") == "agent" for f in fs))
        assert joined[-1]["kind"] == "handover", joined

        replied = await server.http.post(
            f"{AGENT_API}/{conversation_id}/messages",
            headers=staff,
            json={"text": "Hello, this is support"},
        )
        assert replied.status_code == 201, replied.text
        frames = await recv_until(ws, lambda fs: any(f.get("from") == "agent" for f in fs))
        agent = next(f for f in frames if f.get("from") == "agent")
        assert agent["text"] == "Hello, this is support"
        assert agent["seq"] == replied.json()["message_id"]

        released = await server.http.post(f"{AGENT_API}/{conversation_id}/release", headers=staff)
        assert released.status_code == 200, released.text
        back = await recv_until(ws, lambda fs: any(f.get("state") == "bot" for f in fs))
        assert back[-1]["kind"] == "handover"
