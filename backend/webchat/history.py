"""The web chat's reads of the transcript: the conversation of a chat id, the sequence number
of a client's message, and the rows after a sequence number. A message's `seq` is its
conversation_messages id: it only grows, so "everything after the last seen one" is a resume
that neither loses nor repeats a message, across processes and reconnects.

And the few writes of the socket beside the engine's turns: a visitor's conversation created
before its first message (consent, an upload), and the consent itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Channel, Conversation, ConversationMessage, ConversationState
from dialogs import transcript

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


@dataclass(frozen=True, slots=True)
class VisitorConversation:
    id: int
    last_seq: int
    state: ConversationState
    consented: bool


async def visitor_conversation(session: AsyncSession, chat_id: str) -> VisitorConversation | None:
    """What the socket needs at its start: the conversation, its last seq, whether an agent has
    it (no bot typing then) and whether the visitor has consented."""
    row = (
        await session.execute(
            select(
                Conversation.id,
                Conversation.state,
                Conversation.consented_at,
                select(func.coalesce(func.max(ConversationMessage.id), 0))
                .where(ConversationMessage.conversation_id == Conversation.id)
                .scalar_subquery(),
            ).where(Conversation.channel == Channel.webchat, Conversation.chat_id == chat_id)
        )
    ).first()
    if row is None:
        return None
    return VisitorConversation(
        id=int(row[0]),
        last_seq=int(row[3]),
        state=ConversationState(row[1]),
        consented=row[2] is not None,
    )


async def ensure_conversation(session: AsyncSession, chat_id: str, locale: str | None) -> int:
    """The visitor's conversation, created when it does not exist yet (dialogs/transcript.py
    writes every conversations row)."""
    return await transcript.ensure_conversation(
        session, channel=Channel.webchat.value, chat_id=chat_id, locale=locale
    )


async def record_consent(session: AsyncSession, conversation_id: int, at: datetime) -> bool:
    return await transcript.record_consent(session, conversation_id, at)


async def has_consented(session: AsyncSession, conversation_id: int) -> bool:
    at = await session.scalar(
        select(Conversation.consented_at).where(Conversation.id == conversation_id)
    )
    return at is not None
