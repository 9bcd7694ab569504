"""Agent replies and handover notices for a Telegram customer, delivered through the Telegram
notification channel (notifications.telegram.TelegramChannel with bot.delivery's stored
transcript items) as the notification worker hands them over, and the command menu
(bot.commands): the real aiogram Bot against the Telegram Bot API stand-in, PostgreSQL, and the
outbox rows written by dialogs.handover exactly as the agent API writes them."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.documents.storage import DocumentStorage
from backend.i18n import t
from backend.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationMessage,
    ConversationState,
    Customer,
    OutboxMessage,
    Role,
)
from backend.state import Resources
from bot.commands import COMMANDS, set_commands
from dialogs import handover
from notifications.channels import (
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
)
from notifications.telegram import TelegramChannel, telegram_channel
from tests.factories import make_customer, make_document, make_user
from tests.support.telegram_standin import TelegramStandIn

CHAT = 7001


@pytest.fixture
async def channel(
    resources: Resources, telegram: TelegramStandIn
) -> AsyncIterator[TelegramChannel]:
    settings = resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(telegram.token),
            "telegram_api_base": telegram.base_url,
        }
    )
    made = telegram_channel(settings, resources)
    assert made is not None
    try:
        yield made
    finally:
        await made.close()


async def _held_conversation(
    session: AsyncSession,
    resources: Resources,
    *,
    chat_id: int = CHAT,
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
        channel=Channel.telegram,
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


async def _handed_over(session: AsyncSession) -> list[Rendered]:
    """The agent-reply rows, oldest first, as the worker hands them to the channel."""
    session.expire_all()
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.kind == handover.AGENT_REPLY)
        .order_by(OutboxMessage.id)
    )
    return [
        Rendered(
            outbox_id=row.id,
            kind=row.kind,
            channel="telegram",
            to=str(row.payload["chat_id"]),
            locale="ru",
            text="",
            payload=row.payload,
        )
        for row in await session.scalars(stmt)
    ]


async def test_agent_reply_and_notices_are_sent_in_order(
    resources: Resources,
    session: AsyncSession,
    telegram: TelegramStandIn,
    channel: TelegramChannel,
) -> None:
    conv_id, _, actor = await _held_conversation(session, resources)
    await _reply(resources, conv_id, actor, "Здравствуйте, проверяю вашу линию.")
    async with unit_of_work(resources.sessionmaker) as s:
        await handover.release(s, resources.settings, conv_id, actor)

    for message in await _handed_over(session):
        await channel.send(message)

    assert telegram.sent_texts(CHAT) == [
        t("dialogs-handover-agent-joined", "ru"),
        "Здравствуйте, проверяю вашу линию.",
        t("dialogs-handover-released", "ru"),
    ]


async def test_document_reply_is_uploaded_with_its_caption(
    resources: Resources,
    session: AsyncSession,
    telegram: TelegramStandIn,
    channel: TelegramChannel,
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

    joined, act = await _handed_over(session)
    await channel.send(joined)
    await channel.send(act)

    assert telegram.sent_texts(CHAT) == [t("dialogs-handover-agent-joined", "en")]
    [sent] = telegram.calls("sendDocument")
    assert sent.params["chat_id"] == CHAT and sent.params.get("caption") == "Your act"
    upload = sent.files["document"]
    assert upload.content == content and upload.filename.endswith(".pdf")


async def test_blocked_chat_is_unreachable_and_the_identity_marked(
    resources: Resources,
    session: AsyncSession,
    telegram: TelegramStandIn,
    channel: TelegramChannel,
) -> None:
    _, customer_id, _ = await _held_conversation(session, resources)
    telegram.block_chat(CHAT)
    [joined] = await _handed_over(session)

    with pytest.raises(UnreachableError) as caught:
        await channel.send(joined)

    assert str(caught.value) == "blocked_by_user"
    identity = await session.scalar(
        select(ChannelIdentity).where(ChannelIdentity.customer_id == customer_id)
    )
    assert identity is not None
    await session.refresh(identity)
    assert identity.is_reachable is False and identity.unreachable_reason == "blocked_by_user"
    assert [c.status for c in telegram.calls("sendMessage")] == [403]


async def test_a_429_is_temporary_with_telegrams_retry_after(
    resources: Resources,
    session: AsyncSession,
    telegram: TelegramStandIn,
    channel: TelegramChannel,
) -> None:
    conv_id, _, actor = await _held_conversation(session, resources)
    await _reply(resources, conv_id, actor, "second message")
    joined, second = await _handed_over(session)
    telegram.fail_next("sendMessage", status=429, retry_after=1)

    with pytest.raises(TemporaryDeliveryError) as caught:
        await channel.send(joined)
    assert caught.value.retry_after == 1
    assert "second message" not in str(caught.value)

    # the same row again once the pause is over (the pacer waits it out), then the next one
    await channel.send(joined)
    await channel.send(second)
    assert [c.status for c in telegram.calls("sendMessage")] == [429, 200, 200]
    assert telegram.sent_texts(CHAT) == [t("dialogs-handover-agent-joined", "ru"), "second message"]


async def test_server_errors_are_temporary(
    resources: Resources,
    session: AsyncSession,
    telegram: TelegramStandIn,
    channel: TelegramChannel,
) -> None:
    await _held_conversation(session, resources)
    [joined] = await _handed_over(session)
    telegram.fail_next("sendMessage", status=500)

    with pytest.raises(TemporaryDeliveryError) as caught:
        await channel.send(joined)
    assert caught.value.retry_after is None and "TelegramServerError" in str(caught.value)


async def test_a_reply_whose_message_is_gone_is_permanent_and_nothing_is_sent(
    resources: Resources,
    session: AsyncSession,
    telegram: TelegramStandIn,
    channel: TelegramChannel,
) -> None:
    await _held_conversation(session, resources)
    [joined] = await _handed_over(session)
    async with unit_of_work(resources.sessionmaker) as s:
        await s.execute(
            update(ConversationMessage)
            .where(ConversationMessage.id == joined.payload["message_id"])
            .values(payload={"item": {"kind": "hologram"}})
        )
    gone = dataclasses.replace(joined, payload={**joined.payload, "message_id": 10**9})
    no_id = dataclasses.replace(joined, payload={"chat_id": str(CHAT)})

    for message in (joined, gone, no_id):  # unreadable item, no such message, no message id
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(message)
        assert not isinstance(caught.value, UnreachableError)
    assert telegram.calls() == []


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
