"""Group chats: silent by default; with TELEGRAM_GROUP_CHATS=true what is addressed to the bot
(its command, a mention, a reply to it) gets a pointer to a private chat and nothing else - an
account is never shown to a group. The real aiogram Bot and dispatcher against the stand-in."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select

from backend.i18n import t
from backend.models import Channel, ChannelIdentity, Conversation
from bot import inbox
from bot.factory import create_dispatcher
from dialogs.engine import Engine
from dialogs.nlu.service import NLUService
from tests.factories import make_customer
from tests.support.telegram_standin import JSON, TelegramStandIn

GROUP = -100_300
MEMBER = 7701


def _with_entity(update: JSON, kind: str, text_part: str) -> JSON:
    message = update["message"]
    offset = message["text"].index(text_part)
    message["entities"] = [{"type": kind, "offset": offset, "length": len(text_part)}]
    return update


def addressed(tg: TelegramStandIn) -> dict[str, JSON]:
    user = tg.user(MEMBER)
    reply = tg.group_message(GROUP, "где мой баланс?", user=user)
    reply["message"]["reply_to_message"] = {
        "message_id": 1,
        "date": reply["message"]["date"],
        "chat": reply["message"]["chat"],
        "from": tg.bot_user,
        "text": "…",
    }
    return {
        "command": _with_entity(tg.group_message(GROUP, "/balance", user=user), "bot_command",
                                "/balance"),
        "command_to_us": _with_entity(
            tg.group_message(GROUP, "/balance@provider_desk_test_bot", user=user),
            "bot_command", "/balance@provider_desk_test_bot",
        ),
        "mention": _with_entity(
            tg.group_message(GROUP, "@provider_desk_test_bot баланс?", user=user),
            "mention", "@provider_desk_test_bot",
        ),
        "reply": reply,
    }  # fmt: skip


def not_addressed(tg: TelegramStandIn) -> dict[str, JSON]:
    user = tg.user(MEMBER)
    return {
        "chatter": tg.group_message(GROUP, "у кого тоже нет интернета?", user=user),
        "command_to_another_bot": _with_entity(
            tg.group_message(GROUP, "/balance@other_bot", user=user), "bot_command",
            "/balance@other_bot",
        ),
        "mention_of_someone": _with_entity(
            tg.group_message(GROUP, "@neighbour привет", user=user), "mention", "@neighbour"
        ),
    }  # fmt: skip


async def _linked_member(session: Any) -> None:
    _, customer = await make_customer(session, balance=35000)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(MEMBER))
    )
    await session.commit()


@pytest.mark.parametrize("enabled", [False, True], ids=["default", "group-chats-on"])
async def test_groups_get_a_pointer_to_a_private_chat_only_when_configured(
    resources, session, bot, telegram, enabled
):
    await _linked_member(session)
    settings = resources.settings.model_copy(update={"telegram_group_chats": enabled})
    res = dataclasses.replace(resources, settings=settings)
    dp = create_dispatcher(res, Engine(res, NLUService(rasa=None)))

    for name, update in addressed(telegram).items():
        before = len(telegram.calls("sendMessage"))
        await inbox.process_update(res, bot, dp, update)
        sent = telegram.calls("sendMessage")[before:]
        if not enabled:
            assert sent == [], name
            continue
        (reply,) = sent
        assert reply.params["chat_id"] == GROUP, name
        assert reply.params["text"] == t("telegram-group-private", "ru"), name
        (button,) = reply.params["reply_markup"]["inline_keyboard"][0]
        assert button["url"] == "https://t.me/provider_desk_test_bot"
        assert "350" not in reply.params["text"]

    for name, update in not_addressed(telegram).items():
        before = len(telegram.calls("sendMessage"))
        await inbox.process_update(res, bot, dp, update)
        assert telegram.calls("sendMessage")[before:] == [], name

    # no conversation with the engine was ever started for the group
    found = await session.scalars(select(Conversation).where(Conversation.chat_id == str(GROUP)))
    assert found.all() == []
