"""Webhook mode end to end: the app (uvicorn on a free port) registers its webhook with the
Bot API stand-in at start; the stand-in POSTs updates with the secret header; a wrong secret
is refused; a redelivered update is answered once."""

from __future__ import annotations

import asyncio
import dataclasses

import uvicorn
from pydantic import SecretStr

from backend.app import create_app
from backend.models import Channel, ChannelIdentity
from bot.webhook import run_webhook_role
from tests.factories import make_customer, make_subscription, make_tariff
from tests.support.net import free_port


async def test_webhook_mode_answers_once(resources, session, telegram):
    tariff = await make_tariff(session, price=70000)
    _, customer = await make_customer(session, balance=35000)
    await make_subscription(session, customer, tariff)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id="6001")
    )
    await session.commit()

    port = free_port()
    settings = resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(telegram.token),
            "telegram_api_base": telegram.base_url,
            "telegram_mode": "webhook",
            "telegram_webhook_secret": SecretStr("s3cret-token_1"),
            "public_url": f"http://127.0.0.1:{port}",
        }
    )
    res = dataclasses.replace(resources, settings=settings)
    app = create_app(settings, resources=res, roles=[run_webhook_role])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        await telegram.wait_for("setWebhook", timeout=30)
        assert telegram.webhook is not None
        assert telegram.webhook.url == f"http://127.0.0.1:{port}/telegram/webhook"
        update = telegram.message(6001, "какой у меня баланс?")

        assert await telegram.post_webhook(None, update, secret_token="wrong") == 401
        assert telegram.calls("sendMessage") == []

        for _ in range(50):  # the role registers the webhook before the bot is ready for it
            status = await telegram.post_webhook(None, update)
            if status != 503:
                break
            await asyncio.sleep(0.2)
        assert status == 200
        reply = telegram.last("sendMessage").params["text"]
        assert "350" in reply, reply
        assert await telegram.post_webhook(None, update) == 200  # Telegram redelivers
        assert len(telegram.calls("sendMessage")) == 1
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
