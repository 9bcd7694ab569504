"""Robustness of the Telegram adapter end to end (docs/reliability.md, "Nothing is lost" and "Bad
input"): the production bot and dispatcher (bot.runner.build: bot.factory.create_bot with its
pacing and 429 middlewares, create_dispatcher with the linking router and the real dialogs
engine and NLU) talk to the Telegram Bot API stand-in over HTTP; updates go through the inbox
(bot.inbox.process_update / recover) on PostgreSQL and Redis.

Covered elsewhere, not repeated here: redelivery of one update_id (test_inbox.py,
test_polling_e2e.py, test_webhook_e2e.py), a blocked chat on delivery (test_delivery.py),
foreign contacts and wrong deep links (test_linking.py), an unknown pre-checkout
(test_inbox.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.db import unit_of_work
from backend.i18n import t
from backend.models import (
    ChannelIdentity,
    Conversation,
    ConversationMessage,
    MessageDirection,
    TelegramUpdate,
)
from backend.models.enums import Channel
from backend.state import Resources
from bot import inbox
from bot.runner import build
from dialogs.types import payload
from tests.factories import make_customer
from tests.support.telegram_standin import JSON, TelegramStandIn

CHAT = 8001
GROUP = -100_200
CHANNEL = -1_001_234_567_890
# the real engine's answer to "привет" from a chat that is not linked to a customer
GREETING = f"{t('dialogs-greeting', 'ru')}\n{t('dialogs-menu-anonymous-telegram', 'ru')}"
UNSUPPORTED = t("dialogs-unsupported-input", "ru")


@pytest.fixture
def desk_settings(resources: Resources, telegram: TelegramStandIn) -> Settings:
    return resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(telegram.token),
            "telegram_api_base": telegram.base_url,
        }
    )


@asynccontextmanager
async def running(
    settings: Settings, resources: Resources
) -> AsyncIterator[tuple[Bot, Dispatcher]]:
    """One bot process: its Bot and Dispatcher, built as bot.runner builds them."""
    bot, dp = await build(settings, resources)
    try:
        yield bot, dp
    finally:
        await bot.session.close()


@pytest.fixture
async def desk(
    desk_settings: Settings, resources: Resources
) -> AsyncIterator[tuple[Bot, Dispatcher]]:
    async with running(desk_settings, resources) as pair:
        yield pair


async def rows(session: AsyncSession) -> list[TelegramUpdate]:
    result = await session.scalars(
        select(TelegramUpdate)
        .order_by(TelegramUpdate.update_id)
        .execution_options(populate_existing=True)
    )
    return list(result)


async def transcript_count(session: AsyncSession, direction: MessageDirection) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(ConversationMessage)
        .where(ConversationMessage.direction == direction)
    )
    return int(count or 0)


# --- crashes and Bot API failures -----------------------------------------------------------


async def test_an_update_stored_before_a_crash_is_answered_once_after_restart(
    resources: Resources,
    desk_settings: Settings,
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    update = telegram.message(CHAT, "привет")
    async with (
        running(desk_settings, resources) as (bot, _),
        unit_of_work(resources.sessionmaker) as s,
    ):
        assert await inbox.store(s, bot.id, update) is True
    # the process died here: the update is committed (so Telegram could be acknowledged) but
    # was never processed
    assert telegram.calls() == []
    [row] = await rows(session)
    assert (row.status, row.attempts) == ("pending", 0)

    async with running(desk_settings, resources) as (bot, dp):  # the restarted process
        assert await inbox.recover(resources, bot, dp) == 1
        assert telegram.sent_texts(CHAT) == [GREETING]
        [row] = await rows(session)
        assert (row.status, row.attempts, row.error) == ("done", 1, None)

        calls = len(telegram.calls())
        assert await inbox.recover(resources, bot, dp) == 0
        assert len(telegram.calls()) == calls


async def test_a_429_is_waited_out_and_the_reply_sent(
    resources: Resources,
    desk: tuple[Bot, Dispatcher],
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    bot, dp = desk
    loop = asyncio.get_running_loop()
    telegram.fail_next("sendMessage", status=429, retry_after=1)

    turn = asyncio.create_task(
        inbox.process_update(resources, bot, dp, telegram.message(CHAT, "привет"))
    )
    [limited] = await telegram.wait_for("sendMessage", where=lambda c: c.status == 429)
    limited_at = loop.time()
    [sent] = await telegram.wait_for("sendMessage", where=lambda c: c.status == 200, timeout=10)
    sent_at = loop.time()
    assert await asyncio.wait_for(turn, 10) is True

    assert sent_at - limited_at >= 0.9  # retry_after=1 was honoured
    assert [c.status for c in telegram.calls("sendMessage")] == [429, 200]
    assert sent.params == limited.params  # the same request, repeated
    assert telegram.sent_texts(CHAT) == [GREETING]
    [row] = await rows(session)
    assert (row.status, row.attempts, row.error) == ("done", 1, None)


async def test_a_5xx_fails_the_row_and_recover_sends_the_reply_once(
    resources: Resources,
    desk: tuple[Bot, Dispatcher],
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    bot, dp = desk
    telegram.fail_next("sendMessage", status=500)

    await inbox.process_update(resources, bot, dp, telegram.message(CHAT, "привет"))

    [refused] = telegram.calls("sendMessage")
    assert refused.status == 500 and refused.params["text"] == GREETING
    assert telegram.sent_texts(CHAT) == []
    [row] = await rows(session)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error is not None and row.error.startswith("TelegramServerError")
    assert "Internal Server Error" in row.error

    assert await inbox.recover(resources, bot, dp) == 1
    assert telegram.sent_texts(CHAT) == [GREETING]
    [row] = await rows(session)
    assert (row.status, row.attempts, row.error) == ("done", 2, None)
    # the retry re-sent the stored reply: the engine did not run the turn a second time
    assert await transcript_count(session, MessageDirection.inbound) == 1
    assert await transcript_count(session, MessageDirection.outbound) == 1

    assert await inbox.recover(resources, bot, dp) == 0
    assert telegram.sent_texts(CHAT) == [GREETING]


# --- updates the bot cannot use: a polite answer or silence, never a crash -----------------


def _replace_content(update: JSON, **content: Any) -> JSON:
    """The factory's text message with its text replaced by other content."""
    message = update["message"]
    del message["text"]
    message.update(content)
    return update


POLITE: dict[str, Callable[[TelegramStandIn], JSON]] = {
    "sticker": lambda tg: tg.sticker(CHAT),
    "voice": lambda tg: tg.voice(CHAT),
    "photo": lambda tg: tg.photo(CHAT),
    "document": lambda tg: tg.document(CHAT),
    "location": lambda tg: _replace_content(
        tg.message(CHAT, "-"), location={"latitude": 55.75, "longitude": 37.62}
    ),
    "dice": lambda tg: _replace_content(tg.message(CHAT, "-"), dice={"emoji": "🎲", "value": 4}),
}


@pytest.mark.parametrize("kind", list(POLITE))
async def test_media_without_an_agent_gets_the_unsupported_input_answer(
    kind: str,
    resources: Resources,
    desk: tuple[Bot, Dispatcher],
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    bot, dp = desk
    update = POLITE[kind](telegram)

    assert await inbox.process_update(resources, bot, dp, update) is True

    assert telegram.sent_texts(CHAT) == [UNSUPPORTED]
    assert [c.method for c in telegram.calls()] == ["sendMessage"]
    [row] = await rows(session)
    assert (row.status, row.error) == ("done", None)


@pytest.mark.parametrize(
    "kind",
    POLITE,
)
async def test_the_transcript_keeps_the_kind_of_media(
    kind: str,
    resources: Resources,
    desk: tuple[Bot, Dispatcher],
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    """For the agent who reads the conversation later (and the engine's own checks)."""
    bot, dp = desk

    await inbox.process_update(resources, bot, dp, POLITE[kind](telegram))

    stored = await session.scalar(
        select(ConversationMessage.payload).where(
            ConversationMessage.direction == MessageDirection.inbound
        )
    )
    assert stored is not None and [a["kind"] for a in stored["attachments"]] == [kind]


SILENT: dict[str, Callable[[TelegramStandIn], JSON]] = {
    "edited_message": lambda tg: tg.edited_message(CHAT, 1, "исправлено"),
    "group_message": lambda tg: tg.group_message(GROUP, "бот, какой баланс?"),
    "group_start": lambda tg: tg.group_message(GROUP, "/start"),
    "supergroup_message": lambda tg: tg.group_message(GROUP, "привет", chat_type="supergroup"),
    "channel_post": lambda tg: tg.channel_post(CHANNEL, "новости"),
    "unlinked_user_blocks": lambda tg: tg.my_chat_member(CHAT, "kicked"),
}


@pytest.mark.parametrize("kind", list(SILENT))
async def test_edits_groups_and_channels_are_ignored_silently(
    kind: str,
    resources: Resources,
    desk: tuple[Bot, Dispatcher],
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    bot, dp = desk

    assert await inbox.process_update(resources, bot, dp, SILENT[kind](telegram)) is True

    assert telegram.calls() == []  # not a single Bot API call
    [row] = await rows(session)
    assert (row.status, row.error) == ("done", None)
    assert await session.scalar(select(func.count()).select_from(Conversation)) == 0


async def test_blocking_and_unblocking_the_bot_flips_the_identity(
    resources: Resources,
    desk: tuple[Bot, Dispatcher],
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    bot, dp = desk
    _, customer = await make_customer(session)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(CHAT))
    )
    await session.commit()

    async def identity() -> tuple[bool, str | None]:
        found = await session.scalar(
            select(ChannelIdentity).execution_options(populate_existing=True)
        )
        assert found is not None
        return found.is_reachable, found.unreachable_reason

    await inbox.process_update(resources, bot, dp, telegram.my_chat_member(CHAT, "kicked"))
    assert await identity() == (False, "blocked_by_user")

    await inbox.process_update(resources, bot, dp, telegram.my_chat_member(CHAT, "member"))
    assert await identity() == (True, None)

    assert telegram.calls() == []
    assert [r.status for r in await rows(session)] == ["done", "done"]


@pytest.mark.parametrize(
    "data",
    [
        "garbage",
        "",
        "v1:no_such_flow:start:",
        "v9:nav:menu:",
        "v1:top_up:amount:500",  # a step of a flow that is not in progress
        "tglink:maybe",  # the unlink button's prefix with a value it cannot parse
        "x" * 64,
    ],
)
async def test_a_button_with_unknown_data_is_answered_and_called_stale(
    data: str,
    resources: Resources,
    desk: tuple[Bot, Dispatcher],
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    bot, dp = desk
    await inbox.process_update(resources, bot, dp, telegram.message(CHAT, "привет"))
    menu = telegram.last("sendMessage")
    press = telegram.callback_query(CHAT, data)  # on the menu just sent
    query_id = press["callback_query"]["id"]

    await inbox.process_update(resources, bot, dp, press)

    answer = telegram.last("answerCallbackQuery")
    assert answer.status == 200 and answer.params["callback_query_id"] == query_id
    assert query_id not in telegram.open_callback_queries  # the spinner stops
    edit = telegram.last("editMessageText")  # the pressed menu says why nothing happened
    assert edit.status == 200
    assert edit.params["message_id"] == press["callback_query"]["message"]["message_id"]
    assert edit.params["text"] == t("dialogs-stale-button", "ru")
    assert telegram.sent_texts(CHAT) == [menu.params["text"], t("dialogs-stale-button", "ru")]
    assert [(r.status, r.error) for r in await rows(session)] == [("done", None), ("done", None)]


MALFORMED: dict[str, Callable[[TelegramStandIn], JSON]] = {
    "message_without_id_and_date": lambda tg: {
        "update_id": 900_001,
        "message": {"chat": {"id": CHAT, "type": "private"}, "text": "привет"},
    },
    "message_not_an_object": lambda tg: {"update_id": 900_002, "message": "привет"},
    "callback_without_id_and_sender": lambda tg: {
        "update_id": 900_003,
        "callback_query": {"data": payload("nav", "menu")},
    },
    "chat_id_not_a_number": lambda tg: {
        "update_id": 900_004,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": "me", "type": "private"},
            "text": "привет",
        },
    },
}


@pytest.mark.parametrize("kind", list(MALFORMED))
async def test_a_malformed_update_is_dead_lettered_and_nothing_is_sent(
    kind: str,
    resources: Resources,
    desk: tuple[Bot, Dispatcher],
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    bot, dp = desk

    assert await inbox.process_update(resources, bot, dp, MALFORMED[kind](telegram)) is True
    assert await inbox.recover(resources, bot, dp) == 0  # failed permanently: never retried

    [row] = await rows(session)
    assert row.status == "failed" and row.attempts == inbox.MAX_ATTEMPTS
    assert row.error is not None and row.error.startswith("invalid update")
    assert telegram.calls() == []
    assert await session.scalar(select(func.count()).select_from(Conversation)) == 0


async def test_an_update_without_an_update_id_is_refused_unstored(
    resources: Resources,
    desk: tuple[Bot, Dispatcher],
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    bot, dp = desk
    update = telegram.message(CHAT, "привет")
    update["update_id"] = str(update["update_id"])

    # the caller (webhook, poller) must not acknowledge it; the webhook answers 400 before this
    with pytest.raises(ValueError, match="update_id"):
        await inbox.process_update(resources, bot, dp, update)

    assert await rows(session) == []
    assert telegram.calls() == []


async def test_an_update_type_this_aiogram_does_not_know_is_done_silently(
    resources: Resources,
    desk: tuple[Bot, Dispatcher],
    telegram: TelegramStandIn,
    session: AsyncSession,
) -> None:
    bot, dp = desk
    update = {"update_id": 900_100, "future_update": {"chat": {"id": CHAT, "type": "private"}}}

    with pytest.warns(RuntimeWarning, match="unknown update type"):
        await inbox.process_update(resources, bot, dp, update)

    [row] = await rows(session)
    assert (row.status, row.error) == ("done", None)
    assert telegram.calls() == []
