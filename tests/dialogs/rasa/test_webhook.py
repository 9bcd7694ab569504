"""POST /rasa/webhook with the action calls Rasa 3.6 sends: the core answers in-process with
events and responses, the customer resolved from the conversation table."""

from __future__ import annotations

import pytest

pytest.importorskip("rasa_sdk")

import dataclasses
import json
import zlib

from pydantic import SecretStr
from sqlalchemy import select

from backend.app import create_app
from backend.config import Settings
from backend.i18n import t
from backend.models import (
    Conversation,
    ConversationMessage,
    ConversationState,
    DocumentKind,
    OutboxMessage,
    Payment,
    Ticket,
)
from tests.dialogs.rasa.conftest import action_call, make_conversation
from tests.factories import make_customer, make_document, make_tariff


async def _linked(session, *, balance=0, locale="ru", chat_id="12345"):
    _, customer = await make_customer(session, balance=balance)
    await make_conversation(session, chat_id=chat_id, customer_id=customer.id, locale=locale)
    await session.commit()
    return customer


async def test_check_balance_answers_in_the_conversations_locale(session, rasa_client):
    await _linked(session, balance=50000)
    # a slot cannot pose as another customer: identity comes from sender_id only
    body = action_call("action_check_balance", slots={"customer_id": 999})
    response = await rasa_client.post("/rasa/webhook", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert [r["text"] for r in data["responses"]] == ["На счёте 500,00 ₽."]
    assert data["responses"][0]["text"] == t("dialogs-balance", "ru", amount=500)
    assert {"event": "slot", "name": "balance", "value": 500.0} in [
        {k: e[k] for k in ("event", "name", "value")} for e in data["events"]
    ]


async def test_check_balance_in_english(session, rasa_client):
    await _linked(session, balance=-12345, locale="en", chat_id="777")
    body = action_call("action_check_balance", sender_id="telegram:777")
    data = (await rasa_client.post("/rasa/webhook", json=body)).json()
    assert data["responses"][0]["text"] == t("dialogs-balance", "en", amount=-123.45)


async def test_top_up_creates_a_payment_and_answers_with_its_link(session, rasa_client):
    customer = await _linked(session)
    body = action_call(
        "action_top_up",
        intent="top_up",
        text="пополнить на 500",
        slots={"amount": 500.0},
        entities=[{"entity": "amount", "value": "500", "start": 13, "end": 16}],
    )
    response = await rasa_client.post("/rasa/webhook", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    payments = list(
        await session.scalars(select(Payment).where(Payment.customer_id == customer.id))
    )
    assert len(payments) == 1
    payment = payments[0]
    assert payment.amount == 50000
    assert payment.confirmation_url
    (reply,) = data["responses"]
    assert payment.confirmation_url in reply["text"]
    assert reply["custom"]["payment_id"] == payment.public_id
    assert reply["custom"]["confirmation_url"] == payment.confirmation_url
    slots = {e["name"]: e["value"] for e in data["events"] if e["event"] == "slot"}
    assert slots["payment_id"] == payment.public_id


async def test_top_up_without_an_amount_asks_for_it(session, rasa_client):
    customer = await _linked(session)
    data = (
        await rasa_client.post("/rasa/webhook", json=action_call("action_top_up", intent="top_up"))
    ).json()
    assert "Сколько внести?" in data["responses"][0]["text"]
    assert (
        await session.scalars(select(Payment).where(Payment.customer_id == customer.id))
    ).all() == []


async def test_handover_queues_the_conversation_for_an_agent(session, rasa_client):
    await _linked(session)
    body = action_call("action_handover", intent="talk_to_agent", text="позовите оператора")
    response = await rasa_client.post("/rasa/webhook", json=body)
    assert response.status_code == 200, response.text
    conv = await session.scalar(select(Conversation).where(Conversation.chat_id == "12345"))
    await session.refresh(conv)
    assert conv.state is ConversationState.waiting_agent
    alerts = (
        await session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "conversation.waiting_agent")
        )
    ).all()
    assert len(alerts) == 1
    texts = [r["text"] for r in response.json()["responses"]]
    assert texts == [t("dialogs-handover-waiting", "ru", minutes=15)]
    stored = (
        await session.scalars(
            select(ConversationMessage.text).where(ConversationMessage.conversation_id == conv.id)
        )
    ).all()
    assert "позовите оператора" in stored
    # Rasa retrying the same call does not alert the agents again
    again = (await rasa_client.post("/rasa/webhook", json=body)).json()
    assert again["responses"][0]["text"] == t("dialogs-handover-still-waiting", "ru")
    assert len((await session.scalars(select(OutboxMessage))).all()) == 1


async def test_no_linked_customer_is_asked_to_link_the_account(session, rasa_client):
    await make_conversation(session, customer_id=None)
    _, other = await make_customer(session, balance=100000)
    await session.commit()
    # even with a slot naming someone else's customer id
    body = action_call("action_check_balance", slots={"customer_id": other.id})
    data = (await rasa_client.post("/rasa/webhook", json=body)).json()
    assert data["responses"] == [
        {**data["responses"][0], "text": t("dialogs-identify-telegram", "ru")}
    ]
    assert "1000" not in data["responses"][0]["text"]
    assert data["events"] == []
    # no conversation at all, or a sender id that is not "<channel>:<chat_id>"
    for sender in ("telegram:404", "rasa-shell-abc"):
        data = (
            await rasa_client.post(
                "/rasa/webhook", json=action_call("action_top_up", sender_id=sender)
            )
        ).json()
        assert data["responses"][0]["text"] in (
            t("dialogs-identify-telegram", "ru"),
            t("rasa-link-account", "ru"),
        )
    assert (await session.scalars(select(Payment))).all() == []


async def test_unknown_action_is_404(rasa_client, resources):
    response = await rasa_client.post("/rasa/webhook", json=action_call("action_fly_to_the_moon"))
    assert response.status_code == 404
    assert response.json()["action_name"] == "action_fly_to_the_moon"


async def test_missing_domain_is_449_so_rasa_resends_it(rasa_client, resources):
    response = await rasa_client.post(
        "/rasa/webhook", json=action_call("action_check_balance", domain=None)
    )
    assert response.status_code == 449
    assert response.json()["action_name"] == "action_check_balance"


async def test_bad_bodies_are_422_never_500(rasa_client, resources):
    bad = [
        b"not json",
        b"[]",
        json.dumps({"next_action": "action_check_balance"}).encode(),
        json.dumps({"next_action": "action_check_balance", "tracker": {"slots": {}}}).encode(),
        json.dumps({**action_call("action_check_balance"), "tracker": "x"}).encode(),
        json.dumps({**action_call("action_check_balance"), "next_action": 7}).encode(),
    ]
    for body in bad:
        response = await rasa_client.post(
            "/rasa/webhook", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"] == "validation_error"
    deflate = await rasa_client.post(
        "/rasa/webhook", content=b"garbage", headers={"content-encoding": "deflate"}
    )
    assert deflate.status_code == 422


async def test_deflated_call_is_accepted(session, rasa_client):
    await _linked(session, balance=1000)
    raw = zlib.compress(json.dumps(action_call("action_check_balance")).encode())
    response = await rasa_client.post(
        "/rasa/webhook",
        content=raw,
        headers={"content-encoding": "deflate", "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["responses"][0]["text"] == t("dialogs-balance", "ru", amount=10)


async def test_actions_and_health(rasa_client, resources):
    assert (await rasa_client.get("/rasa/health")).json() == {"status": "ok"}
    names = {a["name"] for a in (await rasa_client.get("/rasa/actions")).json()}
    assert names == {
        "action_check_balance",
        "action_top_up",
        "action_change_tariff",
        "action_promised_payment",
        "action_open_ticket",
        "action_get_documents",
        "action_handover",
    }
    # not under /api/v1
    assert (await rasa_client.get("/api/v1/rasa/health")).status_code == 404


class _TokenSettings(Settings):
    rasa_webhook_token: SecretStr | None = None


async def test_shared_token_is_required_when_configured(session, resources):
    from httpx import ASGITransport, AsyncClient

    settings = _TokenSettings(
        **{**resources.settings.model_dump(), "rasa_webhook_token": SecretStr("s3cret-token")},
        _env_file=None,
    )
    app = create_app(
        settings, resources=dataclasses.replace(resources, settings=settings), roles=[]
    )
    await _linked(session, balance=1000)
    body = action_call("action_check_balance")
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://core") as c:
        assert (await c.post("/rasa/webhook", json=body)).status_code == 401
        assert (await c.post("/rasa/webhook?token=wrong", json=body)).status_code == 401
        assert (await c.get("/rasa/actions")).status_code == 401
        wrong_bearer = {"Authorization": "Bearer wrong"}
        assert (await c.post("/rasa/webhook", json=body, headers=wrong_bearer)).status_code == 401
        ok = await c.post("/rasa/webhook?token=s3cret-token", json=body)
        assert ok.status_code == 200
        bearer = {"Authorization": "Bearer s3cret-token"}
        assert (await c.post("/rasa/webhook", json=body, headers=bearer)).status_code == 200
        assert (await c.get("/rasa/health")).status_code == 200


async def test_change_tariff_quotes_then_confirms(session, rasa_client):
    from tests.factories import make_subscription

    customer = await _linked(session, balance=500000)
    current = await make_tariff(session, name="Базовый", price=50000)
    await make_tariff(session, name="Турбо", price=90000)
    await make_subscription(session, customer, current)
    await session.commit()
    quote = (
        await rasa_client.post(
            "/rasa/webhook", json=action_call("action_change_tariff", slots={"tariff": "турбо"})
        )
    ).json()
    (reply,) = quote["responses"]
    assert "Турбо" in reply["text"]
    assert [b["payload"] for b in reply["buttons"]] == [
        '/affirm{"confirm": true}',
        '/deny{"confirm": false}',
    ]
    done = (
        await rasa_client.post(
            "/rasa/webhook",
            json=action_call("action_change_tariff", slots={"tariff": "Турбо", "confirm": True}),
        )
    ).json()
    assert done["responses"][0]["text"] == t("rasa-tariff-changed", "ru", name="Турбо")
    unknown = (
        await rasa_client.post(
            "/rasa/webhook", json=action_call("action_change_tariff", slots={"tariff": "Космос"})
        )
    ).json()
    assert "Космос" in unknown["responses"][0]["text"]


async def test_promised_payment_refused_while_the_balance_suffices(session, rasa_client):
    from tests.factories import make_subscription

    customer = await _linked(session, balance=500000)
    await make_subscription(session, customer, await make_tariff(session, price=50000))
    await session.commit()
    data = (
        await rasa_client.post(
            "/rasa/webhook", json=action_call("action_promised_payment", slots={"confirm": True})
        )
    ).json()
    # the refusal is the customer's next step, from the shared error-<code> catalog keys
    assert data["responses"][0]["text"] == t("error-balance-sufficient", "ru")
    assert data["events"] == []


async def test_open_ticket_and_get_documents(session, rasa_client):
    customer = await _linked(session)
    asked = (await rasa_client.post("/rasa/webhook", json=action_call("action_open_ticket"))).json()
    assert asked["responses"][0]["text"] == t("rasa-ticket-ask-description", "ru")
    created = (
        await rasa_client.post(
            "/rasa/webhook",
            json=action_call(
                "action_open_ticket",
                slots={"description": "Нет интернета с утра", "category": "no_internet"},
            ),
        )
    ).json()
    ticket = await session.scalar(select(Ticket).where(Ticket.customer_id == customer.id))
    assert ticket is not None
    assert ticket.description == "Нет интернета с утра"
    assert ticket.category.value == "no_internet"
    assert created["responses"][0]["text"] == t("rasa-ticket-created", "ru", id=ticket.id)

    doc = await make_document(
        session, customer, kind=DocumentKind.act, period="2026-09", title="Акт"
    )
    await session.commit()
    found = (
        await rasa_client.post(
            "/rasa/webhook",
            json=action_call(
                "action_get_documents", slots={"document_type": "акт", "period": "2026-09"}
            ),
        )
    ).json()
    (reply,) = found["responses"]
    assert reply["custom"]["document_id"] == doc.id
    assert f"/api/v1/documents/{doc.id}/download" in reply["text"]
    none = (
        await rasa_client.post(
            "/rasa/webhook",
            json=action_call("action_get_documents", slots={"document_type": "contract"}),
        )
    ).json()
    assert none["responses"][0]["text"] == t("rasa-documents-none", "ru")


async def test_promised_payment_terms_then_take(session, rasa_client):
    from backend.models import PromisedPayment
    from tests.factories import make_subscription

    customer = await _linked(session, balance=-10000)
    await make_subscription(session, customer, await make_tariff(session, price=50000))
    await session.commit()
    terms = (
        await rasa_client.post("/rasa/webhook", json=action_call("action_promised_payment"))
    ).json()
    assert terms["responses"][0]["buttons"][0]["payload"] == '/affirm{"confirm": true}'
    assert (await session.scalars(select(PromisedPayment))).all() == []
    taken = (
        await rasa_client.post(
            "/rasa/webhook", json=action_call("action_promised_payment", slots={"confirm": "true"})
        )
    ).json()
    assert len((await session.scalars(select(PromisedPayment))).all()) == 1
    assert taken["responses"][0]["text"].startswith("Готово")
