"""What the agent side writes for a Telegram customer: agent replies (text or a document) and the
"an operator joined / left / closed" notices. dialogs.handover stores each as a transcript row
plus an outbox row `conversation.agent_reply` {conversation_id, message_id, channel, chat_id}.
The notification worker delivers the Telegram rows through notifications.telegram (one pacing
and one retry policy with every other notice); this module is the Telegram side of it: read
the stored transcript item and send it as the bot's own replies are sent (bot/render.py)."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import unit_of_work
from backend.models import Conversation, ConversationMessage
from backend.state import Resources
from bot.render import send_outbound
from dialogs.types import Outbound, Text, outbound_from_dict


class ReplyUnavailable(LookupError):
    """The transcript item of an outbox row is gone (the conversation was deleted) or is not
    readable by this release: nothing can send it."""


@dataclass(frozen=True, slots=True)
class StoredReply:
    item: Outbound
    locale: str | None


async def stored_reply(session: AsyncSession, message_id: int) -> StoredReply | None:
    row = (
        await session.execute(
            select(ConversationMessage.text, ConversationMessage.payload, Conversation.locale)
            .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
            .where(ConversationMessage.id == message_id)
        )
    ).first()
    if row is None:
        return None
    data = (row.payload or {}).get("item")
    # a row stored without an item (older data) still has its text
    item: Outbound = outbound_from_dict(data) if isinstance(data, dict) else Text(row.text or "")
    return StoredReply(item=item, locale=row.locale)


async def send_stored_reply(resources: Resources, bot: Bot, chat_id: int, message_id: int) -> None:
    """Send the transcript item `message_id` to the chat. Raises ReplyUnavailable, and
    whatever the Bot raises (aiogram's TelegramAPIError family)."""
    async with unit_of_work(resources.sessionmaker) as session:
        try:
            reply = await stored_reply(session, message_id)
        except (KeyError, TypeError, ValueError) as exc:  # an item of a kind we do not know
            raise ReplyUnavailable(f"transcript message {message_id} is unreadable") from exc
    if reply is None:
        raise ReplyUnavailable(f"transcript message {message_id} not found")
    await send_outbound(bot, chat_id, [reply.item], resources=resources, locale=reply.locale)
