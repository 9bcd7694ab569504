"""The customer is told who joined: the agent's display name where an admin set one, the
generic notice otherwise."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from backend.i18n import t
from backend.models import ConversationMessage, MessageSender, Role
from backend.state import Resources
from dialogs.engine import Engine
from tests.dialogs.engine.conftest import Chat
from tests.factories import access_token_for, auth_header, make_customer, make_user


async def _joined_notice(
    engine: Engine, client: AsyncClient, session, resources: Resources, *, locale: str,
    display_name: str | None,
) -> str | None:  # fmt: skip
    """A customer asks for an agent, the agent claims; the notice stored for the customer."""
    _, customer = await make_customer(session)
    agent = await make_user(session, role=Role.agent)
    agent.display_name = display_name
    await session.commit()
    headers = auth_header(access_token_for(resources.settings, agent))
    await Chat(engine, customer_id=customer.id, locale=locale).say("человек")
    (waiting,) = (await client.get("/api/v1/agent/conversations", headers=headers)).json()["items"]
    r = await client.post(f"/api/v1/agent/conversations/{waiting['id']}/claim", headers=headers)
    assert r.status_code == 200, r.text
    session.expire_all()
    notices = await session.scalars(
        select(ConversationMessage.text)
        .where(
            ConversationMessage.conversation_id == waiting["id"],
            ConversationMessage.sender == MessageSender.system,
        )
        .order_by(ConversationMessage.id)
    )
    text: str | None = notices.all()[-1]
    return text


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_the_joined_notice_names_the_agent(
    engine: Engine, client: AsyncClient, session, resources: Resources, locale: str
) -> None:
    text = await _joined_notice(engine, client, session, resources, locale=locale,
                                display_name="Анна")  # fmt: skip
    assert text == t("dialogs-handover-agent-joined-named", locale, name="Анна")
    assert "Анна" in text


async def test_without_a_display_name_the_notice_stays_generic(
    engine: Engine, client: AsyncClient, session, resources: Resources
) -> None:
    text = await _joined_notice(engine, client, session, resources, locale="ru", display_name=None)
    assert text == t("dialogs-handover-agent-joined", "ru")
