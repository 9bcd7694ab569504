"""The Rasa bridge fails closed: it acts as whichever linked customer `sender_id` names, so
without RASA_WEBHOOK_TOKEN it serves nobody; and no body makes it answer 500."""

from __future__ import annotations

import pytest

pytest.importorskip("rasa_sdk")

from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select

from backend.models import Ticket
from tests.dialogs.rasa.conftest import action_call, make_conversation
from tests.factories import make_customer


async def test_without_a_token_the_bridge_serves_nobody(session, app):
    assert app.state.settings.rasa_webhook_token is None
    _, customer = await make_customer(session, balance=123_45)
    await make_conversation(session, chat_id="777", customer_id=customer.id)
    await session.commit()
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://core") as c:
        balance = await c.post(
            "/rasa/webhook", json=action_call("action_check_balance", sender_id="telegram:777")
        )
        assert balance.status_code == 503, balance.text
        assert balance.json()["error"] == "rasa_bridge_disabled"
        assert "123" not in balance.text
        ticket = await c.post(
            "/rasa/webhook",
            json=action_call(
                "action_open_ticket",
                sender_id="telegram:777",
                slots={"description": "Нет интернета", "category": "no_internet"},
            ),
        )
        assert ticket.status_code == 503
        # a made-up token changes nothing
        forged = await c.post(
            "/rasa/webhook?token=anything",
            json=action_call("action_check_balance", sender_id="telegram:777"),
            headers={"Authorization": "Bearer anything"},
        )
        assert forged.status_code == 503
        assert (await c.get("/rasa/actions")).status_code == 503
    assert await session.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_deeply_nested_json_is_a_4xx(rasa_client):
    depth = 200_000
    body = "[" * depth + "]" * depth
    r = await rasa_client.post(
        "/rasa/webhook", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"
    nested = '{"a":' * (depth // 2) + "1" + "}" * (depth // 2)
    r = await rasa_client.post(
        "/rasa/webhook", content=nested, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
