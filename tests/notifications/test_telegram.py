"""The Telegram channel (notifications.telegram) for customers' notices: the real aiogram Bot
built by bot.factory (pacing through the test Redis) against the Bot API stand-in, PostgreSQL
for the identities. Texts arrive with the buttons of their kind, and the buttons do what they
say in the bot (a press goes through the bot's inbox and engine); a blocked bot, a missing
chat, a 429 and server errors come back as the worker's delivery errors. Agents' replies
through the same channel are in tests/bot/test_delivery.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.i18n import t
from backend.models import Channel, ChannelIdentity, Customer
from backend.state import Resources
from bot import inbox
from bot.factory import create_dispatcher
from bot.handlers import NOTICE_MARK
from bot.pacing import DEFAULT_PREFIX
from dialogs.engine import Engine
from dialogs.nlu.service import NLUService
from dialogs.types import payload
from notifications.channels import (
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
)
from notifications.telegram import TelegramChannel, telegram_channel
from tests.factories import make_customer, make_subscription, make_tariff, make_ticket
from tests.support.net import free_port
from tests.support.telegram_standin import TelegramStandIn

CHAT = 7501
TEXT = "Баланс 120,00 ₽, хватит на 2 дня"
PAY = (t("telegram-notice-pay", "ru"), NOTICE_MARK + payload("top_up", "start"))
PROMISED = (t("telegram-notice-promised", "ru"), NOTICE_MARK + payload("promised_payment", "start"))


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramStandIn]:
    standin = TelegramStandIn()
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


def _settings(resources: Resources, telegram: TelegramStandIn, **extra: Any) -> Settings:
    return resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(telegram.token),
            "telegram_api_base": telegram.base_url,
            **extra,
        }
    )


@pytest.fixture
async def channel(
    resources: Resources, telegram: TelegramStandIn
) -> AsyncIterator[TelegramChannel]:
    made = telegram_channel(_settings(resources, telegram), resources)
    assert made is not None
    try:
        yield made
    finally:
        await made.close()


def notice(kind: str, text: str = TEXT, to: int | str = CHAT, **data: Any) -> Rendered:
    return Rendered(
        outbox_id=1,
        kind=kind,
        channel="telegram",
        to=str(to),
        locale="ru",
        text=text,
        payload={"customer_id": 1, **data},
        customer_id=1,
    )


def keyboard(params: dict[str, Any]) -> list[list[tuple[str, str]]]:
    markup = params.get("reply_markup")
    if markup is None:
        return []
    return [[(b["text"], b["callback_data"]) for b in row] for row in markup["inline_keyboard"]]


async def _linked(session: AsyncSession, chat_id: int = CHAT, **kwargs: Any) -> Customer:
    _, customer = await make_customer(session, **kwargs)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(chat_id))
    )
    await session.commit()
    return customer


def test_no_bot_token_no_channel(resources: Resources) -> None:
    assert resources.settings.telegram_bot_token is None
    assert telegram_channel(resources.settings, resources) is None


@pytest.mark.parametrize(
    ("kind", "data", "buttons"),
    [
        ("billing.low_balance", {"balance": 12000, "days_left": 2}, [[PAY]]),
        ("subscription.blocked", {}, [[PAY, PROMISED]]),
        ("promised_payment.expiring", {"amount": 50000}, [[PAY]]),
        ("invoice.issued", {"number": "A-1", "status": "pending"}, [[PAY]]),
        ("invoice.issued", {"number": "A-1", "status": "paid"}, []),
        ("outage.started", {"title": "Авария"}, []),
        ("payment.credited", {"amount": 50000}, []),
    ],
)
async def test_a_notice_arrives_with_the_buttons_of_its_kind(
    channel: TelegramChannel,
    telegram: TelegramStandIn,
    kind: str,
    data: dict[str, Any],
    buttons: list[list[tuple[str, str]]],
) -> None:
    await channel.send(notice(kind, **data))

    [sent] = telegram.calls("sendMessage")
    assert sent.status == 200 and sent.params["chat_id"] == CHAT
    assert sent.params["text"] == TEXT
    assert keyboard(sent.params) == buttons


async def test_the_ticket_notice_opens_its_ticket(
    channel: TelegramChannel, telegram: TelegramStandIn
) -> None:
    await channel.send(notice("ticket.updated", ticket_id=42, status="resolved"))
    [sent] = telegram.calls("sendMessage")
    label = t("telegram-notice-ticket", "ru")
    assert keyboard(sent.params) == [[(label, NOTICE_MARK + payload("ticket_status", "start", 42))]]

    # a payload without a usable ticket id gets no button rather than a broken one
    await channel.send(notice("ticket.updated", ticket_id="42"))
    assert keyboard(telegram.calls("sendMessage")[-1].params) == []


async def test_no_promised_payment_button_where_the_provider_gives_none(
    resources: Resources, telegram: TelegramStandIn
) -> None:
    made = telegram_channel(_settings(resources, telegram, pp_enabled=False), resources)
    assert made is not None
    try:
        await made.send(notice("subscription.blocked"))
    finally:
        await made.close()
    assert keyboard(telegram.last("sendMessage").params) == [[PAY]]


async def test_english_labels_for_an_english_notice(
    channel: TelegramChannel, telegram: TelegramStandIn
) -> None:
    english = Rendered(
        outbox_id=1, kind="billing.low_balance", channel="telegram", to=str(CHAT),
        locale="en", text="Low balance", payload={},
    )  # fmt: skip
    await channel.send(english)
    [[(label, _)]] = keyboard(telegram.last("sendMessage").params)
    assert label == t("telegram-notice-pay", "en") != t("telegram-notice-pay", "ru")


async def test_a_long_notice_is_split_and_the_buttons_go_under_the_last_part(
    channel: TelegramChannel, telegram: TelegramStandIn
) -> None:
    text = "\n".join(f"строка {n} " + "x" * 90 for n in range(80))  # about 8000 characters
    await channel.send(notice("billing.low_balance", text=text))
    parts = telegram.calls("sendMessage")
    assert len(parts) == 2 and "\n".join(p.params["text"] for p in parts) == text
    assert keyboard(parts[0].params) == [] and keyboard(parts[1].params) == [[PAY]]


async def test_pressing_pay_now_starts_the_top_up(
    resources: Resources,
    session: AsyncSession,
    channel: TelegramChannel,
    telegram: TelegramStandIn,
) -> None:
    tariff = await make_tariff(session, price=70000)
    customer = await _linked(session, balance=12000)
    await make_subscription(session, customer, tariff)
    await session.commit()
    await channel.send(notice("billing.low_balance", balance=12000, days_left=2))
    [[(_, data)]] = keyboard(telegram.last("sendMessage").params)

    dp = create_dispatcher(resources, Engine(resources, NLUService(rasa=None)))
    press = telegram.callback_query(CHAT, data)  # on the notice: the bot's last message
    await inbox.process_update(resources, channel.bot, dp, press)

    assert press["callback_query"]["id"] in telegram.callback_answers
    assert press["callback_query"]["message"]["text"]  # a text message the bot could edit...
    assert (
        telegram.calls("editMessageText") == []
    )  # ...but the notice stays; the flow answers below
    # the top-up flow asks how much, offering the month's fee
    question = telegram.sent_texts(CHAT)[-1]
    assert question == t("dialogs-topup-ask", "ru")
    reply = [c for c in telegram.recorded if c.params.get("text") == question][-1]
    offered = [d for row in keyboard(reply.params) for _, d in row]
    assert payload("top_up", "amount", 70000) in offered


async def test_pressing_open_the_ticket_shows_it(
    resources: Resources,
    session: AsyncSession,
    channel: TelegramChannel,
    telegram: TelegramStandIn,
) -> None:
    customer = await _linked(session)
    ticket = await make_ticket(session, customer, subject="Нет интернета в подъезде")
    await session.commit()
    await channel.send(notice("ticket.updated", ticket_id=ticket.id, status="open"))
    [[(_, data)]] = keyboard(telegram.last("sendMessage").params)

    dp = create_dispatcher(resources, Engine(resources, NLUService(rasa=None)))
    await inbox.process_update(resources, channel.bot, dp, telegram.callback_query(CHAT, data))

    shown = telegram.sent_texts(CHAT)[-1]
    assert f"№{ticket.id}" in shown and "Нет интернета в подъезде" in shown


async def test_a_blocked_bot_marks_the_identity_unreachable(
    session: AsyncSession, channel: TelegramChannel, telegram: TelegramStandIn
) -> None:
    customer = await _linked(session)
    telegram.block_chat(CHAT)

    with pytest.raises(UnreachableError) as caught:
        await channel.send(notice("billing.low_balance"))

    assert TEXT not in str(caught.value)
    identity = await session.scalar(
        select(ChannelIdentity).where(ChannelIdentity.customer_id == customer.id)
    )
    assert identity is not None
    await session.refresh(identity)
    assert identity.is_reachable is False and identity.unreachable_reason == "blocked_by_user"


async def test_a_chat_that_does_not_exist_is_unreachable(
    session: AsyncSession, channel: TelegramChannel, telegram: TelegramStandIn
) -> None:
    customer = await _linked(session)
    telegram.fail_next("sendMessage", status=400, description="Bad Request: chat not found")

    with pytest.raises(UnreachableError):
        await channel.send(notice("billing.low_balance"))

    identity = await session.scalar(
        select(ChannelIdentity).where(ChannelIdentity.customer_id == customer.id)
    )
    assert identity is not None and identity.is_reachable is True  # no update would restore it


async def test_a_429_is_temporary_with_its_retry_after_and_pauses_the_bot(
    resources: Resources, channel: TelegramChannel, telegram: TelegramStandIn
) -> None:
    telegram.fail_next("sendMessage", status=429, retry_after=7)

    with pytest.raises(TemporaryDeliveryError) as caught:
        await channel.send(notice("billing.low_balance"))

    assert caught.value.retry_after == 7
    assert TEXT not in str(caught.value)
    # raised at once, not slept through: the worker reschedules the row
    assert [c.status for c in telegram.calls("sendMessage")] == [429]
    pause = f"{DEFAULT_PREFIX}{telegram.token.split(':')[0]}:pause"
    assert 6000 < await resources.redis.pttl(pause) <= 7000


async def test_while_the_bot_is_paused_a_notice_is_handed_back_at_once(
    channel: TelegramChannel, telegram: TelegramStandIn
) -> None:
    assert channel.pacer is not None
    await channel.pacer.pause(5)  # a 429 in another process

    with pytest.raises(TemporaryDeliveryError) as caught:
        await channel.send(notice("billing.low_balance"))

    assert caught.value.retry_after is not None and 4 < caught.value.retry_after <= 5
    assert telegram.calls() == []


@pytest.mark.parametrize("status", [500, 502])
async def test_server_errors_are_temporary(
    channel: TelegramChannel, telegram: TelegramStandIn, status: int
) -> None:
    telegram.fail_next("sendMessage", status=status)
    with pytest.raises(TemporaryDeliveryError) as caught:
        await channel.send(notice("billing.low_balance"))
    assert caught.value.retry_after is None and TEXT not in str(caught.value)


async def test_an_unreachable_api_is_temporary(resources: Resources) -> None:
    settings = resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr("42:TEST"),
            "telegram_api_base": f"http://127.0.0.1:{free_port()}",
        }
    )
    made = telegram_channel(settings, resources)
    assert made is not None
    try:
        with pytest.raises(TemporaryDeliveryError):
            await made.send(notice("billing.low_balance"))
    finally:
        await made.close()


async def test_a_refused_message_is_permanent(
    channel: TelegramChannel, telegram: TelegramStandIn
) -> None:
    telegram.fail_next("sendMessage", status=400, description="Bad Request: can't parse entities")
    with pytest.raises(PermanentDeliveryError) as caught:
        await channel.send(notice("billing.low_balance"))
    assert not isinstance(caught.value, UnreachableError)
    assert "can't parse entities" in str(caught.value)


@pytest.mark.parametrize(("to", "text"), [("not-a-chat", TEXT), (CHAT, "  \n ")])
async def test_a_malformed_notice_is_permanent_and_nothing_is_sent(
    channel: TelegramChannel, telegram: TelegramStandIn, to: str | int, text: str
) -> None:
    with pytest.raises(PermanentDeliveryError):
        await channel.send(notice("billing.low_balance", text=text, to=to))
    assert telegram.calls() == []
