"""Agent replies and handover notices delivered by the bot (bot.delivery), and the command menu
(bot.commands): the real aiogram Bot against the Telegram Bot API stand-in, PostgreSQL, and the
outbox rows written by dialogs.handover exactly as the agent API writes them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiogram import Bot
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.documents.storage import DocumentStorage
from backend.i18n import t
from backend.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationState,
    Customer,
    OutboxMessage,
    OutboxStatus,
    Role,
    utcnow,
)
from backend.state import Resources
from bot import delivery
from bot.commands import COMMANDS, set_commands
from dialogs import handover
from tests.factories import make_customer, make_document, make_user
from tests.support.telegram_standin import TelegramStandIn

CHAT = 7001


async def _held_conversation(
    session: AsyncSession,
    resources: Resources,
    *,
    chat_id: int = CHAT,
    channel: Channel = Channel.telegram,
    locale: str = "ru",
) -> tuple[int, int, Actor]:
    """A linked customer whose conversation an agent has claimed (the "joined" notice row is
    written by handover.claim). Returns (conversation id, customer id, the agent)."""
    _, customer = await make_customer(session)
    agent = await make_user(session, role=Role.agent)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(chat_id))
    )
    conv = Conversation(
        channel=channel,
        chat_id=str(chat_id),
        customer_id=customer.id,
        state=ConversationState.waiting_agent,
        locale=locale,
    )
    session.add(conv)
    await session.commit()
    actor = Actor(user_id=agent.id, role=Role.agent)
    async with unit_of_work(resources.sessionmaker) as s:
        await handover.claim(s, resources.settings, conv.id, actor)
    return conv.id, customer.id, actor


async def _reply(
    resources: Resources,
    conv_id: int,
    actor: Actor,
    text: str | None,
    document_id: int | None = None,
) -> int:
    async with unit_of_work(resources.sessionmaker) as s:
        return await handover.reply(s, conv_id, actor, text=text, document_id=document_id)


async def _rows(session: AsyncSession) -> list[OutboxMessage]:
    session.expire_all()
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.kind == handover.AGENT_REPLY)
        .order_by(OutboxMessage.id)
    )
    return list(await session.scalars(stmt))


def _ok_texts(telegram: TelegramStandIn, chat_id: int = CHAT) -> list[str]:
    return telegram.sent_texts(chat_id)


async def test_agent_reply_and_notice_are_delivered_once_in_order(
    resources: Resources, session: AsyncSession, telegram: TelegramStandIn, bot: Bot
) -> None:
    conv_id, _, actor = await _held_conversation(session, resources)
    await _reply(resources, conv_id, actor, "Здравствуйте, проверяю вашу линию.")

    assert await delivery.deliver_agent_replies(resources, bot) == 2
    assert _ok_texts(telegram) == [
        t("dialogs-handover-agent-joined", "ru"),
        "Здравствуйте, проверяю вашу линию.",
    ]
    assert [r.status for r in await _rows(session)] == [OutboxStatus.done, OutboxStatus.done]

    # nothing is sent twice
    assert await delivery.deliver_agent_replies(resources, bot) == 0
    assert len(telegram.calls("sendMessage")) == 2

    # releasing the conversation tells the customer too
    async with unit_of_work(resources.sessionmaker) as s:
        await handover.release(s, resources.settings, conv_id, actor)
    assert await delivery.deliver_agent_replies(resources, bot) == 1
    assert _ok_texts(telegram)[-1] == t("dialogs-handover-released", "ru")


async def test_widget_rows_are_left_to_the_widget(
    resources: Resources, session: AsyncSession, telegram: TelegramStandIn, bot: Bot
) -> None:
    conv_id, _, actor = await _held_conversation(
        session, resources, chat_id=9001, channel=Channel.webchat
    )
    await _reply(resources, conv_id, actor, "hello from the agent")

    assert await delivery.deliver_agent_replies(resources, bot) == 0
    assert telegram.calls("sendMessage") == []
    rows = await _rows(session)
    assert rows and all(r.status is OutboxStatus.pending and r.attempts == 0 for r in rows)


async def test_document_reply_is_uploaded_with_its_caption(
    resources: Resources, session: AsyncSession, telegram: TelegramStandIn, bot: Bot
) -> None:
    conv_id, customer_id, actor = await _held_conversation(session, resources, locale="en")
    customer = await session.get(Customer, customer_id)
    assert customer is not None
    content = b"%PDF-1.4 the act"
    document = await make_document(session, customer, content=content)
    await session.commit()
    path = DocumentStorage(resources.settings.documents_dir).path_for(document.storage_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)

    await _reply(resources, conv_id, actor, "Your act", document_id=document.id)
    assert await delivery.deliver_agent_replies(resources, bot) == 2

    [sent] = telegram.calls("sendDocument")
    assert sent.params["chat_id"] == CHAT and sent.params.get("caption") == "Your act"
    upload = sent.files["document"]
    assert upload.content == content and upload.filename.endswith(".pdf")


async def test_blocked_chat_marks_the_identity_unreachable_and_the_row_dead(
    resources: Resources, session: AsyncSession, telegram: TelegramStandIn, bot: Bot
) -> None:
    _, customer_id, _ = await _held_conversation(session, resources)
    telegram.block_chat(CHAT)

    assert await delivery.deliver_agent_replies(resources, bot) == 0
    [row] = await _rows(session)
    assert row.status is OutboxStatus.dead and row.last_error == "blocked_by_user"
    identity = await session.scalar(
        select(ChannelIdentity).where(ChannelIdentity.customer_id == customer_id)
    )
    assert identity is not None
    assert identity.is_reachable is False and identity.unreachable_reason == "blocked_by_user"
    assert _ok_texts(telegram) == []

    # a dead row is not tried again
    await delivery.deliver_agent_replies(resources, bot)
    assert len([c for c in telegram.calls("sendMessage") if c.status == 403]) == 1


async def test_flood_wait_postpones_the_chat_and_delivers_after_retry_after(
    resources: Resources, session: AsyncSession, telegram: TelegramStandIn, bot: Bot
) -> None:
    conv_id, _, actor = await _held_conversation(session, resources)
    await _reply(resources, conv_id, actor, "second message")
    telegram.fail_next("sendMessage", status=429, retry_after=1)

    before = utcnow()
    assert await delivery.deliver_agent_replies(resources, bot) == 0
    rows = await _rows(session)
    # the failed row and the chat's later row wait together; a flood wait spends no attempt
    assert [r.status for r in rows] == [OutboxStatus.pending, OutboxStatus.pending]
    assert [r.attempts for r in rows] == [0, 0]
    assert all(r.available_at >= before + timedelta(seconds=1) for r in rows)
    assert await delivery.deliver_agent_replies(resources, bot) == 0  # not due yet
    assert _ok_texts(telegram) == []

    await asyncio.sleep(1.1)
    assert await delivery.deliver_agent_replies(resources, bot) == 2
    assert _ok_texts(telegram) == [t("dialogs-handover-agent-joined", "ru"), "second message"]


async def test_server_errors_are_retried_with_backoff_then_dead(
    resources: Resources, session: AsyncSession, telegram: TelegramStandIn, bot: Bot
) -> None:
    await _held_conversation(session, resources)
    telegram.fail_next("sendMessage", status=500, times=delivery.MAX_ATTEMPTS)

    assert await delivery.deliver_agent_replies(resources, bot) == 0
    [row] = await _rows(session)
    assert row.status is OutboxStatus.pending and row.attempts == 1
    assert row.available_at > utcnow()
    assert row.last_error is not None and "Server" in row.last_error

    # make it due at once for the remaining attempts
    for attempt in range(2, delivery.MAX_ATTEMPTS + 1):
        async with unit_of_work(resources.sessionmaker) as s:
            stored = await s.get(OutboxMessage, row.id)
            assert stored is not None
            stored.available_at = utcnow() - timedelta(seconds=1)
        assert await delivery.deliver_agent_replies(resources, bot) == 0
        [row] = await _rows(session)
        assert row.attempts == attempt
    assert row.status is OutboxStatus.dead
    assert _ok_texts(telegram) == []


async def test_delivery_loop_sends_while_running_and_stops(
    resources: Resources, session: AsyncSession, telegram: TelegramStandIn, bot: Bot
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run_delivery_loop(resources, bot, stop, interval=0.05))
    try:
        conv_id, _, actor = await _held_conversation(session, resources)
        await _reply(resources, conv_id, actor, "from the loop")
        await telegram.wait_for("sendMessage", count=2, timeout=5)
        assert _ok_texts(telegram)[-1] == "from the loop"
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_set_commands_registers_both_languages_and_the_default(
    telegram: TelegramStandIn, bot: Bot
) -> None:
    await set_commands(bot)

    for language in ("ru", "en"):
        menu = telegram.commands_for(language)
        assert menu is not None
        assert [c["command"] for c in menu] == list(COMMANDS)
        assert [c["description"] for c in menu] == [
            t(f"telegram-command-{name}", language) for name in COMMANDS
        ]
    default = telegram.commands_for("")
    assert default is not None and default == telegram.commands_for("ru")
    assert telegram.commands_for("en") != telegram.commands_for("ru")
