"""The bot end to end on long polling: the real aiogram Bot and our own poller against the
Telegram Bot API stand-in, the real NLU and engine, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import dataclasses

from pydantic import SecretStr
from sqlalchemy import func, select

from backend.i18n import t
from backend.models import Channel, ChannelIdentity, TelegramUpdate
from bot.runner import Poller, run_polling
from tests.factories import make_customer, make_subscription, make_tariff


async def test_polling_answers_a_linked_customer_once(resources, session, telegram):
    tariff = await make_tariff(session, price=70000)
    _, customer = await make_customer(session, balance=35000)
    await make_subscription(session, customer, tariff)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id="5001")
    )
    await session.commit()

    settings = resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(telegram.token),
            "telegram_api_base": telegram.base_url,
        }
    )
    res = dataclasses.replace(resources, settings=settings)
    ready: asyncio.Future[Poller] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_polling(settings, resources=res, handle_signals=False, poller_ready=ready)
    )
    poller = await asyncio.wait_for(ready, 30)
    try:
        update = telegram.message(5001, "какой у меня баланс?")
        telegram.queue_update(update)
        await telegram.wait_for("sendMessage", where=lambda c: c.params.get("chat_id") == 5001)
        reply = telegram.last("sendMessage").params["text"]
        assert "350" in reply, reply
        assert t("dialogs-fallback", "ru") not in reply

        # Telegram redelivers the same update (say, our acknowledgement was lost): no new reply
        sent_before = len(telegram.calls("sendMessage"))
        telegram.queue_update(update)
        await asyncio.sleep(1.5)
        assert len(telegram.calls("sendMessage")) == sent_before
        stored = await session.scalar(
            select(func.count())
            .select_from(TelegramUpdate)
            .where(TelegramUpdate.update_id == update["update_id"])
        )
        assert stored == 1
    finally:
        poller.stop()
        await asyncio.wait_for(task, 30)
