"""Each flow end to end through Engine.handle, in Russian and English."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from babel.dates import format_skeleton
from pydantic import SecretStr
from sqlalchemy import func, select

from backend.billing import service as billing
from backend.clock import business_today
from backend.i18n import t
from backend.models import Conversation, ConversationMessage, MessageSender, Payment
from backend.state import Resources
from dialogs.engine import Engine
from dialogs.types import PaymentRequest, Text, payload
from tests.dialogs.engine.conftest import Chat, KeywordParser, buttons, texts
from tests.factories import make_customer, make_subscription, make_tariff

LOCALES = ["ru", "en"]


async def _customer(session, balance: int = 35000):
    _, customer = await make_customer(session, balance=balance)
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    await make_subscription(session, customer, tariff)
    await session.commit()
    return customer


@pytest.mark.parametrize("locale", LOCALES)
async def test_balance_with_days_left(engine: Engine, session, resources, locale: str) -> None:
    customer = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say("какой у меня баланс?" if locale == "ru" else "my balance")
    today = business_today(resources.settings)
    bal = await billing.balance(session, customer.id, today)
    assert bal.days_left
    until = format_skeleton("MMMMd", today + timedelta(days=bal.days_left), locale=locale)
    expected = t("dialogs-balance-days", locale, amount=Decimal(350), days=bal.days_left,
                 until=until)  # fmt: skip
    assert texts(replies) == expected
    # every message is in the transcript: the question and the answer
    rows = (
        await session.scalars(select(ConversationMessage).order_by(ConversationMessage.id))
    ).all()
    assert [r.sender for r in rows] == [MessageSender.customer, MessageSender.bot]
    assert rows[1].text == expected


def test_russian_plurals() -> None:
    assert "1 день" in t("dialogs-balance-days", "ru", amount=1, days=1, until="x")
    assert "2 дня" in t("dialogs-balance-days", "ru", amount=1, days=2, until="x")
    assert "5 дней" in t("dialogs-balance-days", "ru", amount=1, days=5, until="x")
    assert "21 день" in t("dialogs-balance-days", "ru", amount=1, days=21, until="x")


@pytest.mark.parametrize("locale", LOCALES)
async def test_greeting_menu_has_header_card(engine: Engine, session, locale: str) -> None:
    customer = await _customer(session)
    replies = await Chat(engine, customer_id=customer.id, locale=locale).say("привет")
    (menu,) = replies
    assert isinstance(menu, Text)
    assert customer.contract_number in menu.text and "Дом 300" in menu.text
    assert menu.text.startswith("👤")
    labels = [label for label, _ in buttons(replies)]
    assert t("dialogs-menu-top-up", locale) in labels
    assert t("dialogs-menu-agent", locale) in labels
    assert all(len(p.encode()) <= 64 for _, p in buttons(replies))


@pytest.mark.parametrize("locale", LOCALES)
async def test_top_up_presets_to_payment_link(engine: Engine, session, locale: str) -> None:
    customer = await _customer(session, balance=-18800)
    chat = Chat(engine, channel="webchat", customer_id=customer.id, locale=locale)
    replies = await chat.say("пополнить" if locale == "ru" else "top up")
    assert texts(replies) == t("dialogs-topup-ask-debt", locale, debt=Decimal("188"))
    presets = dict(buttons(replies))
    debt_label = t("dialogs-topup-preset-debt", locale, amount=Decimal("188"))
    month_label = t("dialogs-topup-preset-month", locale, amount=Decimal("600"))
    assert presets[debt_label] == payload("top_up", "amount", 18800)
    assert presets[month_label] == payload("top_up", "amount", 60000)
    replies = await chat.say(payload=presets[month_label])
    (request,) = replies
    assert isinstance(request, PaymentRequest)
    assert request.amount == 60000 and request.confirmation_url
    assert request.telegram is None
    payment = await session.scalar(select(Payment))
    assert payment is not None and payment.public_id == request.payment_public_id
    # the flow is over: the same preset button again is stale, and creates nothing
    replies = await chat.say(payload=presets[month_label])
    assert t("dialogs-stale-button", locale) in texts(replies)
    assert await session.scalar(select(func.count()).select_from(Payment)) == 1


async def test_top_up_amount_from_message_and_minimum(engine: Engine, session) -> None:
    customer = await _customer(session)
    chat = Chat(engine, channel="webchat", customer_id=customer.id, locale="en")
    replies = await chat.say("top up 50")  # below settings.topup_min (100.00)
    assert texts(replies) == t("dialogs-topup-out-of-range", "en", min=Decimal(100),
                               max=Decimal(100000))  # fmt: skip
    replies = await chat.say("250")
    (request,) = replies
    assert isinstance(request, PaymentRequest) and request.amount == 25000


async def test_top_up_with_telegram_invoice(resources: Resources, session) -> None:
    settings = resources.settings.model_copy(
        update={"telegram_payments_provider_token": SecretStr("test:token")}
    )
    res = Resources(settings, resources.engine, resources.sessionmaker, resources.redis,
                    resources.limiter, resources.revocations)  # fmt: skip
    customer = await _customer(session)
    chat = Chat(Engine(res, KeywordParser()), customer_id=customer.id, locale="ru")
    (request,) = await chat.say("пополнить на 700")
    assert isinstance(request, PaymentRequest)
    assert request.telegram is not None and request.telegram["prices"][0]["amount"] == 70000
    assert request.confirmation_url is None


async def test_payment_history(engine: Engine, session) -> None:
    customer = await _customer(session)
    replies = await Chat(engine, customer_id=customer.id, locale="en").say("history")
    assert t("dialogs-history-title", "en") in texts(replies)
    assert "350.00" in texts(replies)


@pytest.mark.parametrize("locale", LOCALES)
async def test_anonymous_is_told_how_to_link(engine: Engine, session, locale: str) -> None:
    chat = Chat(engine, locale=locale)
    replies = await chat.say("баланс")
    assert texts(replies) == t("dialogs-identify-telegram", locale)
    # once the adapter links the chat, the asked-for flow runs
    customer = await _customer(session)
    chat.customer_id = customer.id
    replies = await chat.say("ok")
    assert t("dialogs-balance-days", locale, amount=Decimal(350), days=1, until="x")[:10] in (
        texts(replies)
    )


@pytest.mark.parametrize("locale", LOCALES)
async def test_cancel_mid_flow(engine: Engine, session, locale: str) -> None:
    customer = await _customer(session)
    chat = Chat(engine, channel="webchat", customer_id=customer.id, locale=locale)
    replies = await chat.say("пополнить")
    other = dict(buttons(replies))[t("dialogs-topup-preset-other", locale)]
    await chat.say(payload=other)
    replies = await chat.say("отмена" if locale == "ru" else "Cancel!")
    assert texts(replies) == t("dialogs-cancelled", locale)
    conv = await session.scalar(select(Conversation))
    assert conv is not None and conv.flow["flow"] is None
    # "back" from the typed-amount step returns to the presets
    await chat.say("пополнить")
    await chat.say(payload=other)
    replies = await chat.say(payload=payload("nav", "back"))
    assert t("dialogs-topup-preset-other", locale) in [label for label, _ in buttons(replies)]


async def test_two_misses_offer_an_agent(engine: Engine, session) -> None:
    chat = Chat(engine, locale="en")
    first = await chat.say("what is the meaning of life")
    assert texts(first) == t("dialogs-fallback", "en")
    second = await chat.say("tell me a joke")
    assert texts(second) == t("dialogs-fallback-agent", "en")
    assert payload("nav", "agent") in [p for _, p in buttons(second)]
