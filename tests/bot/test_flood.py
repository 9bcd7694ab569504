"""Flood control and blocked chats: bursts to one chat are paced (bot.pacing.PacingMiddleware;
the buckets themselves are tested in test_pacing.py), and a reply refused with 403 during an
ordinary turn marks the Telegram identity unreachable (bot.handlers.UnreachableMiddleware). The
real aiogram Bot against the Bot API stand-in."""

from __future__ import annotations

import asyncio
import time

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select

from backend.models import Channel, ChannelIdentity, TelegramUpdate
from bot import inbox
from bot.factory import create_dispatcher
from bot.pacing import Pacer, PacingMiddleware, Rates
from dialogs.engine import Engine
from dialogs.nlu.service import NLUService
from tests.factories import make_customer, make_subscription, make_tariff
from tests.support.telegram_standin import TelegramStandIn

CHAT, OTHER = 7301, 7302


async def test_a_burst_to_one_chat_is_paced_in_order_others_are_not_held(
    resources, telegram: TelegramStandIn
):
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url))
    rates = Rates.of(global_rate=1000, chat_rate=1 / 0.3, chat_burst=2)
    session.middleware(PacingMiddleware(Pacer(resources.redis, rates, prefix="flood:")))
    bot = Bot(telegram.token, session=session)
    try:
        started = time.monotonic()
        other = asyncio.create_task(asyncio.sleep(0.05))
        burst = [bot.send_message(CHAT, f"part {n}") for n in range(5)]

        async def other_chat() -> float:
            await other
            await bot.send_message(OTHER, "unrelated")
            return time.monotonic() - started

        other_task = asyncio.create_task(other_chat())
        await asyncio.gather(*burst)
        other_elapsed = await other_task
        elapsed = time.monotonic() - started
    finally:
        await bot.session.close()
    # two at once, then three more 0.3 s apart
    assert elapsed >= 0.85, elapsed
    assert other_elapsed < 0.5, other_elapsed
    assert telegram.sent_texts(CHAT) == [f"part {n}" for n in range(5)]
    assert telegram.sent_texts(OTHER) == ["unrelated"]


async def test_a_reply_refused_with_403_marks_the_identity_unreachable(
    resources, session, bot, telegram
):
    tariff = await make_tariff(session, price=70000)
    _, customer = await make_customer(session, balance=35000)
    await make_subscription(session, customer, tariff)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(CHAT))
    )
    await session.commit()
    dp = create_dispatcher(resources, Engine(resources, NLUService(rasa=None)))

    telegram.block_chat(CHAT)
    update = telegram.command(CHAT, "/balance")
    await inbox.process_update(resources, bot, dp, update)

    refused = telegram.calls("sendMessage")
    assert [c.status for c in refused] == [403]
    identity = await session.scalar(
        select(ChannelIdentity).where(ChannelIdentity.external_id == str(CHAT))
    )
    assert identity is not None
    await session.refresh(identity)
    assert identity.is_reachable is False
    assert identity.unreachable_reason == inbox.BLOCKED_BY_USER
    # retrying cannot help: the update is done, not failed for another try
    row = await session.scalar(
        select(TelegramUpdate).where(TelegramUpdate.update_id == update["update_id"])
    )
    assert row is not None and row.status == inbox.DONE
    assert await inbox.recover(resources, bot, dp) == 0
    assert len(telegram.calls("sendMessage")) == 1

    # unblocked: Telegram sends my_chat_member "member" and the bot answers again
    telegram.unblock_chat(CHAT)
    await inbox.process_update(resources, bot, dp, telegram.my_chat_member(CHAT, "member"))
    await session.refresh(identity)
    assert identity.is_reachable is True
    await inbox.process_update(resources, bot, dp, telegram.command(CHAT, "/balance"))
    assert telegram.calls("sendMessage")[-1].status == 200
    assert "350" in telegram.sent_texts(CHAT)[-1]
