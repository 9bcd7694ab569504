"""Right after linking, the bot asks «Получать уведомления о балансе?» (docs/isp-rules.md,
flow 1) and the answer sets the billing preference, audited; the link itself is a security
notice for the customer's other channels, marked as already told in this chat. The real
aiogram Bot against the Bot API stand-in, the production dispatcher and the real engine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.customers import linking as link_service
from backend.i18n import t
from backend.models import AuditEntry, Customer, OutboxMessage
from backend.state import Resources
from bot import inbox
from bot.factory import create_dispatcher
from dialogs.engine import Engine
from dialogs.flows import settings as settings_flow
from dialogs.nlu.service import NLUService
from dialogs.types import payload
from notifications.events import told_in
from tests.factories import make_customer
from tests.support.telegram_standin import TelegramStandIn

USER = 7101


@pytest.fixture
def dispatcher(resources: Resources) -> Dispatcher:
    return create_dispatcher(resources, Engine(resources, NLUService(rasa=None)))


async def feed(
    resources: Resources, bot: Bot, dp: Dispatcher, telegram: TelegramStandIn, update: Any
) -> list[str]:
    before = len(telegram.sent_texts(USER))
    await inbox.process_update(resources, bot, dp, update)
    return telegram.sent_texts(USER)[before:]


def buttons(telegram: TelegramStandIn) -> list[tuple[str, str]]:
    markup = telegram.last("sendMessage").params.get("reply_markup")
    rows = (json.loads(markup) if isinstance(markup, str) else markup or {})["inline_keyboard"]
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


async def billing_preference(session: AsyncSession, customer_id: int) -> Any:
    session.expire_all()
    customer = await session.get(Customer, customer_id)
    assert customer is not None
    return (customer.notification_preferences or {}).get("billing")


async def preference_audits(session: AsyncSession) -> list[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "customer.notification_preferences")
        .order_by(AuditEntry.id)
    )
    return list(rows)


async def test_the_question_follows_the_link_and_no_turns_billing_notices_off(
    resources, session, bot, telegram, dispatcher
):
    _, customer = await make_customer(session, contract_number="N-1")
    await session.commit()
    token = await link_service.issue_link_token(resources.redis, customer.id)

    sent = await feed(resources, bot, dispatcher, telegram, telegram.command(USER, "start", token))

    assert sent[0] == t("telegram-linked", "ru", contract="N-1")
    assert len(sent) == 3, sent  # the confirmation, the main menu, the question
    assert sent[-1] == t("dialogs-settings-ask-billing", "ru")
    no = payload(settings_flow.NAME, settings_flow.ASK_BILLING, settings_flow.NO)
    assert buttons(telegram) == [
        (t("dialogs-settings-billing-yes", "ru"), payload("settings", "ask_billing", "yes")),
        (t("dialogs-settings-billing-no", "ru"), no),
    ]
    assert await billing_preference(session, customer.id) is not False

    sent = await feed(resources, bot, dispatcher, telegram, telegram.callback_query(USER, no))

    assert t("dialogs-settings-billing-off", "ru") in sent
    assert await billing_preference(session, customer.id) is False
    [entry] = await preference_audits(session)
    assert entry.object_id == str(customer.id) and entry.details["billing"] is False
    # answered: the same button again changes nothing and says the button is stale
    sent = await feed(resources, bot, dispatcher, telegram, telegram.callback_query(USER, no))
    assert t("dialogs-settings-billing-off", "ru") not in sent
    assert len(await preference_audits(session)) == 1


async def test_yes_in_words_turns_them_on(resources, session, bot, telegram, dispatcher):
    _, customer = await make_customer(session, phone="+79001234567", contract_number="N-2")
    customer.notification_preferences = {"billing": False, "outages": True, "tickets": True,
                                         "marketing": False}  # fmt: skip
    await session.commit()

    await feed(resources, bot, dispatcher, telegram, telegram.contact(USER, "+79001234567"))
    sent = await feed(resources, bot, dispatcher, telegram, telegram.message(USER, "N-2"))
    assert sent[-1] == t("dialogs-settings-ask-billing", "ru")

    sent = await feed(resources, bot, dispatcher, telegram, telegram.message(USER, "да"))

    assert sent == [t("dialogs-settings-billing-on", "ru")]
    assert await billing_preference(session, customer.id) is True
    [entry] = await preference_audits(session)
    assert entry.details["billing"] is True


async def test_a_redelivered_link_update_asks_once(resources, session, bot, telegram, dispatcher):
    """Telegram sending the linking update again asks nothing again."""
    _, customer = await make_customer(session)
    await session.commit()
    token = await link_service.issue_link_token(resources.redis, customer.id)
    update = telegram.command(USER, "start", token)

    await feed(resources, bot, dispatcher, telegram, update)
    await feed(resources, bot, dispatcher, telegram, update)

    questions = [s for s in telegram.sent_texts(USER) if s == t("dialogs-settings-ask-billing")]
    assert len(questions) == 1


async def test_linking_tells_the_other_channels_not_this_chat(
    resources, session, bot, telegram, dispatcher
):
    _, customer = await make_customer(session)
    await session.commit()
    token = await link_service.issue_link_token(resources.redis, customer.id)

    await feed(resources, bot, dispatcher, telegram, telegram.command(USER, "start", token))

    [row] = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "security.telegram_linked")
    )
    assert row.payload["customer_id"] == customer.id
    assert row.payload["told_in"] == {"telegram": str(USER)}
    assert told_in(row.payload) == {"telegram"}
