"""The inbox (store before processing, once, in order, recovered after a crash), the handlers
and the polling loop: the real aiogram Bot over HTTP to the Telegram Bot API stand-in and the
real Dispatcher (bot.factory.create_dispatcher), with a recording engine in place of the
dialogs engine, so what the adapter hands in can be checked. With the real engine: see
tests/bot/test_robustness.py (unsupported update types, crashes, 429/5xx)."""

from __future__ import annotations

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.i18n import t
from backend.models import ChannelIdentity, TelegramUpdate
from backend.models.enums import Channel
from backend.state import Resources
from bot import inbox
from bot.factory import create_dispatcher
from bot.runner import Poller
from dialogs.types import Button, Inbound, Outbound, Text, payload
from tests.factories import make_customer
from tests.support.telegram_standin import TelegramStandIn

USER = 555
MENU = payload("nav", "menu")


class StubEngine:
    """Records what the adapter hands in; answers with one text (or fails on request)."""

    def __init__(self) -> None:
        self.inbounds: list[Inbound] = []
        self.fail_times = 0

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        self.inbounds.append(inbound)
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("boom")
        label = inbound.text or inbound.payload or "?"
        return [Text(f"re: {label}", buttons=((Button("Меню", MENU),),))]


@pytest.fixture
def engine() -> StubEngine:
    return StubEngine()


@pytest.fixture
def dp(resources: Resources, engine: StubEngine) -> Dispatcher:
    return create_dispatcher(resources, engine)  # type: ignore[arg-type]


async def rows(session: AsyncSession) -> list[TelegramUpdate]:
    result = await session.scalars(
        select(TelegramUpdate)
        .order_by(TelegramUpdate.update_id)
        .execution_options(populate_existing=True)
    )
    return list(result)


async def test_store_is_new_once_per_update_id(
    session: AsyncSession, telegram: TelegramStandIn
) -> None:
    update = telegram.message(USER, "привет")
    assert await inbox.store(session, 42, update) is True
    assert await inbox.store(session, 42, update) is False
    assert await inbox.store(session, 43, update) is True  # another bot
    [first, _] = await rows(session)
    assert (first.chat_id, first.status, first.attempts) == (USER, "pending", 0)
    assert first.update_id == update["update_id"]


async def test_a_text_goes_through_the_engine_and_the_reply_is_sent(
    resources: Resources, bot: Bot, dp: Dispatcher, telegram: TelegramStandIn, engine: StubEngine
) -> None:
    update = telegram.message(USER, "баланс", language_code="en")
    assert await inbox.process_update(resources, bot, dp, update)

    [inbound] = engine.inbounds
    assert inbound.channel == "telegram" and inbound.chat_id == str(USER)
    assert (inbound.text, inbound.external_id, inbound.locale) == (
        "баланс",
        str(update["update_id"]),
        "en",
    )
    assert inbound.customer_id is None
    [sent] = telegram.calls()
    assert sent.method == "sendMessage" and sent.status == 200
    assert sent.params["chat_id"] == USER and sent.params["text"] == "re: баланс"
    assert sent.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Меню", "callback_data": MENU}]]
    }


async def test_a_redelivered_update_is_processed_once(
    resources: Resources,
    bot: Bot,
    dp: Dispatcher,
    telegram: TelegramStandIn,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    update = telegram.message(USER, "привет")
    assert await inbox.process_update(resources, bot, dp, update) is True
    assert await inbox.process_update(resources, bot, dp, update) is False

    assert len(engine.inbounds) == 1
    assert len(telegram.calls("sendMessage")) == 1
    [row] = await rows(session)
    assert (row.status, row.attempts) == ("done", 1) and row.processed_at is not None


async def test_a_crash_between_store_and_process_is_recovered_once_in_order(
    resources: Resources,
    bot: Bot,
    dp: Dispatcher,
    telegram: TelegramStandIn,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    # the process died after committing the rows: only the store happened
    await inbox.store(session, bot.id, telegram.message(USER, "первое"))
    await inbox.store(session, bot.id, telegram.message(USER, "второе"))
    await session.commit()

    assert await inbox.recover(resources, bot, dp) == 2
    assert await inbox.recover(resources, bot, dp) == 0

    assert [i.text for i in engine.inbounds] == ["первое", "второе"]
    assert telegram.sent_texts(USER) == ["re: первое", "re: второе"]
    assert [r.status for r in await rows(session)] == ["done", "done"]


async def test_a_chat_is_processed_in_update_id_order(
    resources: Resources,
    bot: Bot,
    dp: Dispatcher,
    telegram: TelegramStandIn,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    await inbox.store(session, bot.id, telegram.message(USER, "раньше"))
    await session.commit()

    await inbox.process_update(resources, bot, dp, telegram.message(USER, "позже"))

    assert [i.text for i in engine.inbounds] == ["раньше", "позже"]
    assert telegram.sent_texts(USER) == ["re: раньше", "re: позже"]


async def test_a_failed_update_is_kept_and_retried_by_recover(
    resources: Resources,
    bot: Bot,
    dp: Dispatcher,
    telegram: TelegramStandIn,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    engine.fail_times = 1

    await inbox.process_update(resources, bot, dp, telegram.message(USER, "привет"))
    [row] = await rows(session)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error is not None and "boom" in row.error
    assert telegram.calls() == []

    assert await inbox.recover(resources, bot, dp) == 1
    [row] = await rows(session)
    assert (row.status, row.attempts, row.error) == ("done", 2, None)
    assert telegram.sent_texts(USER) == ["re: привет"]


async def test_an_update_out_of_attempts_is_dead_lettered(
    resources: Resources,
    bot: Bot,
    dp: Dispatcher,
    telegram: TelegramStandIn,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    engine.fail_times = 10
    await inbox.process_update(resources, bot, dp, telegram.message(USER, "привет"))
    for _ in range(3):
        await inbox.recover(resources, bot, dp, max_attempts=2)
    [row] = await rows(session)
    assert row.status == "failed" and row.attempts == 2
    assert len(engine.inbounds) == 2
    assert telegram.calls() == []


async def test_callback_queries_are_answered_and_carry_the_payload(
    resources: Resources, bot: Bot, dp: Dispatcher, telegram: TelegramStandIn, engine: StubEngine
) -> None:
    shown = await bot.send_message(USER, "Меню")
    update = telegram.callback_query(USER, MENU)  # pressed on the message just sent
    query_id = update["callback_query"]["id"]

    await inbox.process_update(resources, bot, dp, update)

    answer = telegram.last("answerCallbackQuery")
    assert answer.status == 200 and answer.params["callback_query_id"] == query_id
    assert query_id in telegram.callback_answers
    [inbound] = engine.inbounds
    assert inbound.payload == MENU and inbound.text is None
    # the reply replaces the pressed menu in place
    edit = telegram.last("editMessageText")
    assert edit.status == 200 and edit.params["message_id"] == shown.message_id
    assert edit.params["text"] == f"re: {MENU}"
    assert [c.method for c in telegram.calls()] == [
        "sendMessage",
        "answerCallbackQuery",
        "editMessageText",
    ]


async def test_callback_is_answered_even_when_the_turn_fails(
    resources: Resources,
    bot: Bot,
    dp: Dispatcher,
    telegram: TelegramStandIn,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    engine.fail_times = 1
    update = telegram.callback_query(USER, "garbage", message_id=7)

    await inbox.process_update(resources, bot, dp, update)

    [answer] = telegram.calls("answerCallbackQuery")
    assert answer.status == 200
    assert answer.params["callback_query_id"] == update["callback_query"]["id"]
    [row] = await rows(session)
    assert row.status == "failed" and row.error is not None and "boom" in row.error


async def test_a_sticker_reaches_the_engine_as_an_attachment(
    resources: Resources, bot: Bot, dp: Dispatcher, telegram: TelegramStandIn, engine: StubEngine
) -> None:
    update = telegram.sticker(USER)
    file_id = update["message"]["sticker"]["file_id"]

    await inbox.process_update(resources, bot, dp, update)

    [inbound] = engine.inbounds
    assert inbound.text is None
    assert [(a.kind, a.file_id) for a in inbound.attachments] == [("sticker", file_id)]
    assert telegram.sent_texts(USER) == ["re: ?"]  # the engine's answer is sent


async def test_linked_customer_and_locale_are_injected(
    resources: Resources,
    bot: Bot,
    dp: Dispatcher,
    telegram: TelegramStandIn,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    _, customer = await make_customer(session)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(USER))
    )
    await session.commit()

    await inbox.process_update(
        resources, bot, dp, telegram.message(USER, "привет", language_code="en")
    )

    [inbound] = engine.inbounds
    assert inbound.customer_id == customer.id
    assert inbound.locale == customer.locale == "ru"  # the customer's setting wins


async def test_pre_checkout_for_an_unknown_payment_is_refused_politely(
    resources: Resources, bot: Bot, dp: Dispatcher, telegram: TelegramStandIn
) -> None:
    update = telegram.pre_checkout_query(USER, "topup:nope", "RUB", 10000)
    query_id = update["pre_checkout_query"]["id"]

    await inbox.process_update(resources, bot, dp, update)

    [answer] = telegram.calls("answerPreCheckoutQuery")
    assert answer.status == 200 and answer.params["pre_checkout_query_id"] == query_id
    assert answer.params["ok"] is False
    assert answer.params["error_message"] == t("error-payment-not-found", "ru")
    assert query_id not in telegram.open_pre_checkout_queries


async def test_polling_stores_before_acknowledging(
    resources: Resources,
    bot: Bot,
    dp: Dispatcher,
    telegram: TelegramStandIn,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    first = telegram.queue_update(telegram.message(USER, "раз"))
    second = telegram.queue_update(telegram.message(USER, "два"))
    poller = Poller(resources, bot, dp, poll_timeout=0)

    assert await poller.poll_once() == 2
    await poller.idle()

    assert poller.offset == second["update_id"] + 1
    assert [i.text for i in engine.inbounds] == ["раз", "два"]
    stored = await rows(session)
    assert [r.update_id for r in stored] == [first["update_id"], second["update_id"]]
    assert [r.status for r in stored] == ["done", "done"]
    # what is stored is Telegram's own shape ("from", unix dates), readable again
    assert stored[0].payload["message"]["from"]["id"] == USER
    assert isinstance(stored[0].payload["message"]["date"], int)

    # the next getUpdates acknowledges the batch: Telegram drops it, nothing comes twice
    assert await poller.poll_once() == 0
    [_, ack] = telegram.calls("getUpdates")
    assert ack.params["offset"] == second["update_id"] + 1
    assert telegram.pending_updates == []
    assert len(engine.inbounds) == 2
