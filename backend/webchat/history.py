"""The web chat's reads of the transcript: the conversation of a chat id, the sequence number
of a client's message, and the rows after a sequence number. A message's `seq` is its
conversation_messages id: it only grows, so "everything after the last seen one" is a resume
that neither loses nor repeats a message, across processes and reconnects."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Channel, Conversation, ConversationMessage

# At most this many rows per read; a longer backlog is sent in several reads.
PAGE = 200


async def conversation_of(session: AsyncSession, chat_id: str) -> tuple[int, int] | None:
    """(conversation id, last seq) of the visitor's conversation; None before the first turn."""
    row = (
        await session.execute(
            select(Conversation.id, func.coalesce(func.max(ConversationMessage.id), 0))
            .outerjoin(ConversationMessage, ConversationMessage.conversation_id == Conversation.id)
            .where(Conversation.channel == Channel.webchat, Conversation.chat_id == chat_id)
            .group_by(Conversation.id)
        )
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


async def seq_of(session: AsyncSession, conversation_id: int, client_msg_id: str) -> int | None:
    return await session.scalar(
        select(ConversationMessage.id).where(
            ConversationMessage.conversation_id == conversation_id,
            ConversationMessage.external_id == client_msg_id,
        )
    )


async def after(session: AsyncSession, conversation_id: int, seq: int) -> list[ConversationMessage]:
    """The conversation's rows after `seq`, oldest first, at most PAGE."""
    return list(
        await session.scalars(
            select(ConversationMessage)
            .where(
                ConversationMessage.conversation_id == conversation_id,
                ConversationMessage.id > seq,
            )
            .order_by(ConversationMessage.id)
            .limit(PAGE)
        )
    )
