"""A credit the customer already read in the chat (the bot's reply to successful_payment) is
marked so in its notice (`"told_in": {"telegram": chat id}`, notifications/events.py), and the
routing does not repeat it there; a payment made elsewhere carries no mark."""

from __future__ import annotations

import dataclasses
import uuid

from pydantic import SecretStr
from sqlalchemy import select

from backend.db import unit_of_work
from backend.models import Channel, ChannelIdentity, OutboxMessage, Payment, PaymentStatus
from backend.payments import service as payments
from bot import inbox
from bot.factory import create_dispatcher
from dialogs.engine import Engine
from dialogs.nlu.service import NLUService
from notifications.events import told_in
from tests.factories import make_customer

CHAT = 7601


async def _credited(session) -> list[OutboxMessage]:
    session.expire_all()
    await session.rollback()
    rows = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "payment.credited")
    )
    return list(rows)


async def test_a_telegram_payment_is_marked_told_in_its_chat(resources, session, bot, telegram):
    settings = resources.settings.model_copy(
        update={"telegram_payments_provider_token": SecretStr("284685063:TEST:abc")}
    )
    res = dataclasses.replace(resources, settings=settings)
    _, customer = await make_customer(session)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(CHAT))
    )
    await session.commit()
    async with unit_of_work(res.sessionmaker) as s:
        invoice = await payments.create_telegram_payment(s, settings, customer.id, 60000)
    dp = create_dispatcher(res, Engine(res, NLUService(rasa=None)))

    update = telegram.successful_payment(CHAT, invoice.payload, total_amount=60000)
    await inbox.process_update(res, bot, dp, update)

    [row] = await _credited(session)
    assert row.payload["told_in"] == {"telegram": str(CHAT)}
    assert told_in(row.payload) == {"telegram"}


async def test_a_payment_made_elsewhere_is_not_marked(resources, session, settings):
    _, customer = await make_customer(session)
    payment = Payment(
        customer_id=customer.id,
        public_id=str(uuid.uuid4()),
        provider="sandbox",
        provider_payment_id="sbx-elsewhere",
        amount=50000,
        currency="RUB",
        status=PaymentStatus.pending,
        details={},
    )
    session.add(payment)
    await session.flush()
    await payments.credit(session, settings, payment.id, amount=50000, currency="RUB")
    await session.commit()

    [row] = await _credited(session)
    assert "told_in" not in row.payload and told_in(row.payload) == set()
