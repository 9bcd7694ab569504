"""The reply to Telegram's successful_payment: the amount credited and the new balance (and
"the internet will be back" when the payment lifted a block for debt), once however often the
update arrives. The real aiogram Bot and dispatcher against the Bot API stand-in."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from pydantic import SecretStr

from backend.db import unit_of_work
from backend.i18n import t
from backend.models import Channel, ChannelIdentity, SubscriptionStatus
from backend.payments import service as payments
from bot import inbox
from bot.factory import create_dispatcher
from dialogs.engine import Engine
from dialogs.nlu.service import NLUService
from tests.factories import make_customer, make_subscription, make_tariff

CHAT = 7501


@pytest.mark.parametrize("blocked", [False, True], ids=["active", "blocked-for-debt"])
async def test_successful_payment_reply_says_amount_and_balance_once(
    resources, session, bot, telegram, blocked
):
    settings = resources.settings.model_copy(
        update={"telegram_payments_provider_token": SecretStr("284685063:TEST:abc")}
    )
    res = dataclasses.replace(resources, settings=settings)
    tariff = await make_tariff(session, price=70000)
    _, customer = await make_customer(session, balance=-18800 if blocked else 35000)
    sub = await make_subscription(
        session,
        customer,
        tariff,
        status=SubscriptionStatus.blocked if blocked else SubscriptionStatus.active,
    )
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(CHAT))
    )
    await session.commit()
    async with unit_of_work(res.sessionmaker) as s:
        invoice = await payments.create_telegram_payment(s, settings, customer.id, 60000)
    dp = create_dispatcher(res, Engine(res, NLUService(rasa=None)))

    update = telegram.successful_payment(CHAT, invoice.payload, total_amount=60000)
    await inbox.process_update(res, bot, dp, update)
    balance = Decimal(60000 + (-18800 if blocked else 35000)) / 100
    key = "telegram-payment-credited-restored" if blocked else "telegram-payment-credited"
    expected = t(key, "ru", amount=Decimal(600), balance=balance)
    assert telegram.sent_texts(CHAT) == [expected]
    assert ("412,00" if blocked else "950,00") in expected

    # the same charge again (a second update with the same charge id): no second reply
    again = telegram.successful_payment(
        CHAT,
        invoice.payload,
        total_amount=60000,
        telegram_payment_charge_id=update["message"]["successful_payment"][
            "telegram_payment_charge_id"
        ],
    )
    await inbox.process_update(res, bot, dp, again)
    assert telegram.sent_texts(CHAT) == [expected]
    await session.refresh(sub)
    assert sub.status is SubscriptionStatus.active
