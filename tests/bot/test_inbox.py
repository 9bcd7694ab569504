"""The inbox (store before processing, once, in order, recovered after a crash), the handlers
and the polling loop, with the real Dispatcher and a RecordingSession (no HTTP).

TODO(stand-in): test_polling_stores_before_acknowledging and the handler tests should also run
through tests/support/telegram_standin.py (real getUpdates long polling, form encoding)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import AnswerCallbackQuery, AnswerPreCheckoutQuery, SendMessage
from aiogram.types import Update
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ChannelIdentity, TelegramUpdate
from backend.models.enums import Channel
from backend.state import Resources
from bot import inbox
from bot.factory import create_bot, create_dispatcher
from bot.runner import Poller
from dialogs.types import Button, Inbound, Outbound, Text, payload
from tests.bot.test_render import RecordingSession, bot_settings
from tests.factories import make_customer

USER = 555


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
        return [Text(f"re: {label}", buttons=((Button("Меню", payload("nav", "menu")),),))]


def message_update(
    update_id: int,
    text: str | None = "привет",
    *,
    chat_id: int = USER,
    chat_type: str = "private",
    language_code: str = "en",
    **extra: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": chat_type},
        "from": {"id": USER, "is_bot": False, "first_name": "Пётр", "language_code": language_code},
        **extra,
    }
    if text is not None:
        message["text"] = text
    return {"update_id": update_id, "message": message}


def callback_update(update_id: int, data: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "chat_instance": "ci",
            "data": data,
            "from": {"id": USER, "is_bot": False, "first_name": "Пётр"},
            "message": {
                "message_id": 7,
                "date": int(time.time()),
                "chat": {"id": USER, "type": "private"},
                "text": "Меню",
            },
        },
    }


@pytest.fixture
def rec() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
def engine() -> StubEngine:
    return StubEngine()


@pytest.fixture
async def rec_bot(resources: Resources, rec: RecordingSession) -> AsyncIterator[Bot]:
    bot = create_bot(bot_settings(resources.settings), session=rec)
    yield bot
    await bot.session.close()


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


async def test_store_is_new_once_per_update_id(session: AsyncSession) -> None:
    assert await inbox.store(session, 42, message_update(1)) is True
    assert await inbox.store(session, 42, message_update(1)) is False
    assert await inbox.store(session, 43, message_update(1)) is True  # another bot
    [first, _] = await rows(session)
    assert (first.chat_id, first.status, first.attempts) == (USER, "pending", 0)


async def test_a_text_goes_through_the_engine_and_the_reply_is_sent(
    resources: Resources, rec_bot: Bot, dp: Dispatcher, rec: RecordingSession, engine: StubEngine
) -> None:
    assert await inbox.process_update(resources, rec_bot, dp, message_update(10, "баланс"))

    [inbound] = engine.inbounds
    assert inbound.channel == "telegram" and inbound.chat_id == str(USER)
    assert (inbound.text, inbound.external_id, inbound.locale) == ("баланс", "10", "en")
    assert inbound.customer_id is None
    [sent] = rec.of(SendMessage)
    assert sent.chat_id == USER and sent.text == "re: баланс" and sent.reply_markup is not None


async def test_a_redelivered_update_is_processed_once(
    resources: Resources,
    rec_bot: Bot,
    dp: Dispatcher,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    assert await inbox.process_update(resources, rec_bot, dp, message_update(11)) is True
    assert await inbox.process_update(resources, rec_bot, dp, message_update(11)) is False

    assert len(engine.inbounds) == 1
    [row] = await rows(session)
    assert (row.status, row.attempts) == ("done", 1) and row.processed_at is not None


async def test_a_crash_between_store_and_process_is_recovered_once(
    resources: Resources,
    rec_bot: Bot,
    dp: Dispatcher,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    # the process died after committing the row: only the store happened
    await inbox.store(session, rec_bot.id, message_update(20, "первое"))
    await inbox.store(session, rec_bot.id, message_update(21, "второе"))
    await session.commit()

    assert await inbox.recover(resources, rec_bot, dp) == 2
    assert await inbox.recover(resources, rec_bot, dp) == 0

    assert [i.text for i in engine.inbounds] == ["первое", "второе"]
    assert [r.status for r in await rows(session)] == ["done", "done"]


async def test_a_chat_is_processed_in_update_id_order(
    resources: Resources,
    rec_bot: Bot,
    dp: Dispatcher,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    await inbox.store(session, rec_bot.id, message_update(30, "раньше"))
    await session.commit()

    await inbox.process_update(resources, rec_bot, dp, message_update(31, "позже"))

    assert [i.text for i in engine.inbounds] == ["раньше", "позже"]


async def test_a_failed_update_is_kept_and_retried_by_recover(
    resources: Resources,
    rec_bot: Bot,
    dp: Dispatcher,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    engine.fail_times = 1

    await inbox.process_update(resources, rec_bot, dp, message_update(40))
    [row] = await rows(session)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error is not None and "boom" in row.error

    assert await inbox.recover(resources, rec_bot, dp) == 1
    [row] = await rows(session)
    assert (row.status, row.attempts, row.error) == ("done", 2, None)


async def test_an_update_out_of_attempts_is_dead_lettered(
    resources: Resources, rec_bot: Bot, dp: Dispatcher, engine: StubEngine, session: AsyncSession
) -> None:
    engine.fail_times = 10
    await inbox.process_update(resources, rec_bot, dp, message_update(41))
    for _ in range(3):
        await inbox.recover(resources, rec_bot, dp, max_attempts=2)
    [row] = await rows(session)
    assert row.status == "failed" and row.attempts == 2
    assert len(engine.inbounds) == 2


async def test_callback_queries_are_answered_and_carry_the_payload(
    resources: Resources, rec_bot: Bot, dp: Dispatcher, rec: RecordingSession, engine: StubEngine
) -> None:
    menu = payload("nav", "menu")
    await inbox.process_update(resources, rec_bot, dp, callback_update(50, menu))

    [answer] = rec.of(AnswerCallbackQuery)
    assert answer.callback_query_id == "cb50"
    [inbound] = engine.inbounds
    assert inbound.payload == menu and inbound.text is None


async def test_callback_is_answered_even_when_the_turn_fails(
    resources: Resources, rec_bot: Bot, dp: Dispatcher, rec: RecordingSession, engine: StubEngine
) -> None:
    engine.fail_times = 1
    await inbox.process_update(resources, rec_bot, dp, callback_update(51, "garbage"))
    assert len(rec.of(AnswerCallbackQuery)) == 1


async def test_a_sticker_reaches_the_engine_as_an_attachment(
    resources: Resources, rec_bot: Bot, dp: Dispatcher, rec: RecordingSession, engine: StubEngine
) -> None:
    sticker = {
        "file_id": "STK",
        "file_unique_id": "u",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    await inbox.process_update(resources, rec_bot, dp, message_update(60, None, sticker=sticker))

    [inbound] = engine.inbounds
    assert inbound.text is None
    assert [(a.kind, a.file_id) for a in inbound.attachments] == [("sticker", "STK")]
    assert len(rec.of(SendMessage)) == 1  # the engine's polite answer is sent


async def test_group_chats_and_edits_are_ignored_but_recorded_done(
    resources: Resources,
    rec_bot: Bot,
    dp: Dispatcher,
    rec: RecordingSession,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    group = message_update(70, "бот, баланс", chat_id=-100, chat_type="supergroup")
    edited = message_update(71, "исправил")
    edited["edited_message"] = {**edited.pop("message"), "edit_date": int(time.time())}

    await inbox.process_update(resources, rec_bot, dp, group)
    await inbox.process_update(resources, rec_bot, dp, edited)

    assert engine.inbounds == [] and rec.requests == []
    assert [r.status for r in await rows(session)] == ["done", "done"]


async def test_linked_customer_and_locale_are_injected(
    resources: Resources, rec_bot: Bot, dp: Dispatcher, engine: StubEngine, session: AsyncSession
) -> None:
    _, customer = await make_customer(session)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(USER))
    )
    await session.commit()

    await inbox.process_update(resources, rec_bot, dp, message_update(80, language_code="en"))

    [inbound] = engine.inbounds
    assert inbound.customer_id == customer.id
    assert inbound.locale == customer.locale == "ru"  # the customer's setting wins


async def test_blocking_the_bot_marks_the_identity_unreachable_and_back(
    resources: Resources, rec_bot: Bot, dp: Dispatcher, session: AsyncSession
) -> None:
    _, customer = await make_customer(session)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(USER))
    )
    await session.commit()

    def member_update(update_id: int, old: str, new: str) -> dict[str, Any]:
        user = {"id": USER, "is_bot": False, "first_name": "Пётр"}
        me = {"id": 42, "is_bot": True, "first_name": "desk"}
        return {
            "update_id": update_id,
            "my_chat_member": {
                "chat": {"id": USER, "type": "private"},
                "from": user,
                "date": int(time.time()),
                "old_chat_member": {"status": old, "user": me, "until_date": 0},
                "new_chat_member": {"status": new, "user": me, "until_date": 0},
            },
        }

    async def reachable() -> bool:
        identity = await session.scalar(
            select(ChannelIdentity).execution_options(populate_existing=True)
        )
        assert identity is not None
        return identity.is_reachable

    await inbox.process_update(resources, rec_bot, dp, member_update(90, "member", "kicked"))
    assert await reachable() is False
    await inbox.process_update(resources, rec_bot, dp, member_update(91, "kicked", "member"))
    assert await reachable() is True


async def test_pre_checkout_for_an_unknown_payment_is_refused_politely(
    resources: Resources, rec_bot: Bot, dp: Dispatcher, rec: RecordingSession
) -> None:
    update = {
        "update_id": 95,
        "pre_checkout_query": {
            "id": "pcq1",
            "from": {"id": USER, "is_bot": False, "first_name": "Пётр", "language_code": "ru"},
            "currency": "RUB",
            "total_amount": 10000,
            "invoice_payload": "topup:nope",
        },
    }
    await inbox.process_update(resources, rec_bot, dp, update)

    [answer] = rec.of(AnswerPreCheckoutQuery)
    assert answer.ok is False and answer.error_message == "Платёж не найден. Создайте новый платёж."


async def test_polling_stores_before_acknowledging(
    resources: Resources,
    rec_bot: Bot,
    dp: Dispatcher,
    rec: RecordingSession,
    engine: StubEngine,
    session: AsyncSession,
) -> None:
    batch = [
        Update.model_validate(message_update(100, "раз")),
        Update.model_validate(message_update(101, "два")),
    ]
    rec.updates.append(batch)
    poller = Poller(resources, rec_bot, dp, poll_timeout=0)

    assert await poller.poll_once() == 2
    await poller.idle()

    assert poller.offset == 102
    assert [i.text for i in engine.inbounds] == ["раз", "два"]
    stored = await rows(session)
    assert [r.status for r in stored] == ["done", "done"]
    # what is stored is Telegram's own shape ("from", unix dates), readable again
    assert stored[0].payload["message"]["from"]["id"] == USER
    assert isinstance(stored[0].payload["message"]["date"], int)


async def test_a_malformed_update_is_dead_lettered_at_once(
    resources: Resources, rec_bot: Bot, dp: Dispatcher, engine: StubEngine, session: AsyncSession
) -> None:
    broken = {"update_id": 110, "message": {"chat": {"id": USER, "type": "private"}}}

    await inbox.process_update(resources, rec_bot, dp, broken)
    assert await inbox.recover(resources, rec_bot, dp) == 0

    [row] = await rows(session)
    assert row.status == "failed" and row.error is not None and "invalid update" in row.error
    assert engine.inbounds == []
