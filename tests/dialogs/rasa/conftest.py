"""An app with the Rasa router mounted at the root (as the lead mounts it), a client on it,
and Rasa-shaped action calls."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app import create_app
from backend.models import Conversation, ConversationState
from backend.state import Resources

RASA_TOKEN = "rasa-bridge-test-token"


@pytest.fixture
def rasa_app(resources: Resources):
    """The app with RASA_WEBHOOK_TOKEN set (without one the bridge is closed)."""
    settings = resources.settings.model_copy(update={"rasa_webhook_token": SecretStr(RASA_TOKEN)})
    return create_app(
        settings, resources=dataclasses.replace(resources, settings=settings), roles=[]
    )


@pytest.fixture
async def rasa_client(rasa_app) -> AsyncIterator[AsyncClient]:
    """Rasa as `action_endpoint: token:` configures it: the token in the query."""
    transport = ASGITransport(app=rasa_app, client=("10.0.0.5", 40000))
    async with AsyncClient(
        transport=transport, base_url="http://core:8000", params={"token": RASA_TOKEN}
    ) as c:
        yield c


async def make_conversation(
    session: AsyncSession,
    *,
    channel: str = "telegram",
    chat_id: str = "12345",
    customer_id: int | None = None,
    locale: str | None = "ru",
) -> Conversation:
    conv = Conversation(
        channel=channel,
        chat_id=chat_id,
        customer_id=customer_id,
        locale=locale,
        state=ConversationState.bot,
        flow={},
    )
    session.add(conv)
    await session.flush()
    return conv


DOMAIN: dict[str, Any] = {
    "version": "3.1",
    "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    "intents": ["check_balance", "top_up", "talk_to_agent", "affirm", "deny"],
    "entities": ["amount", "tariff"],
    "slots": {
        "amount": {
            "type": "float",
            "initial_value": None,
            "influence_conversation": False,
            "mappings": [{"type": "from_entity", "entity": "amount"}],
        },
        "confirm": {
            "type": "bool",
            "initial_value": None,
            "influence_conversation": False,
            "mappings": [{"type": "custom"}],
        },
    },
    "responses": {"utter_greet": [{"text": "Hello!"}]},
    "actions": ["action_check_balance", "action_top_up", "action_handover"],
    "forms": {},
    "e2e_actions": [],
}


def action_call(
    action: str,
    *,
    sender_id: str = "telegram:12345",
    intent: str = "check_balance",
    text: str = "сколько денег на счету",
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    domain: dict[str, Any] | None = DOMAIN,
) -> dict[str, Any]:
    """The body Rasa 3.6 POSTs to the action endpoint (RemoteAction._action_call_format)."""
    all_slots = {"amount": None, "confirm": None, "session_started_metadata": None}
    all_slots.update(slots or {})
    latest = {
        "intent": {"name": intent, "confidence": 0.97},
        "entities": entities or [],
        "text": text,
        "message_id": "5f1c0d9a8b7e4c3d",
        "metadata": {},
        "intent_ranking": [{"name": intent, "confidence": 0.97}],
    }
    body: dict[str, Any] = {
        "next_action": action,
        "sender_id": sender_id,
        "tracker": {
            "sender_id": sender_id,
            "slots": all_slots,
            "latest_message": latest,
            "latest_event_time": 1764150000.5,
            "followup_action": None,
            "paused": False,
            "events": [
                {"event": "action", "timestamp": 1764149999.1, "name": "action_session_start"},
                {"event": "session_started", "timestamp": 1764149999.2},
                {"event": "action", "timestamp": 1764149999.3, "name": "action_listen"},
                {
                    "event": "user",
                    "timestamp": 1764150000.4,
                    "text": text,
                    "parse_data": latest,
                    "input_channel": "telegram",
                    "message_id": "5f1c0d9a8b7e4c3d",
                },
                {"event": "user_featurization", "timestamp": 1764150000.5},
            ],
            "latest_input_channel": "telegram",
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        },
        "version": "3.6.21",
    }
    if domain is not None:
        body["domain"] = domain
    return body
