"""A customer's notification reaches their open widget at once (docs/webchat-protocol.md,
"Notifications in the widget"): the worker appends it to the identified conversation and
announces it, and the socket shows it without waiting for a ping."""

from __future__ import annotations

import asyncio
import json

from backend.i18n import t
from notifications.channels import ChannelRegistry, FakeChannel, WebchatChannel
from notifications.worker import deliver_once
from tests.factories import access_token_for, make_customer
from tests.notifications.helpers import enqueue_committed

CREDITED = {"amount": 50000, "balance": 85000, "currency": "RUB"}


async def test_an_open_widget_shows_the_notice_at_once(chat_server, resources, session):
    """The widget's socket, identified as the customer, gets the notice without a ping."""
    user, customer = await make_customer(session, balance=35000)
    assert user is not None
    await session.commit()
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        token = access_token_for(server.resources.settings, user, customer_id=customer.id)
        await ws.send(json.dumps({"type": "consent"}))
        await ws.send(json.dumps({"type": "identify", "access_token": token}))
        async with asyncio.timeout(5):
            while json.loads(await ws.recv())["type"] != "identified":
                pass
        await enqueue_committed(
            resources, {"customer_id": customer.id, **CREDITED}, "pay:5", kind="payment.credited"
        )
        registry = ChannelRegistry({"email": FakeChannel(), "webchat": WebchatChannel(resources)})
        assert await deliver_once(resources, registry) == 1
        async with asyncio.timeout(5):
            frame = json.loads(await ws.recv())
        # in the customer's language (the account's, like the email's)
        expected = t("payments-credited", "ru", amount=500, balance=850, currency="RUB")
        assert frame["type"] == "message" and frame["from"] == "bot"
        assert frame["kind"] == "text" and frame["text"] == expected
