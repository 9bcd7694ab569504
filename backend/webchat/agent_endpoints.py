"""The agent API: the queue of conversations waiting for an agent, claiming one (atomic),
replying, handing back to the bot, transferring to another agent, closing, and the transcript.
Agents and admins with 2FA. An agent lists the queue and their own conversations; opening any
other is allowed and audited (dialogs/handover.py).

Replies are stored in the transcript and handed to the channel adapters through the outbox
(kind `conversation.agent_reply`); this API sends nothing itself."""

from __future__ import annotations

import mimetypes
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Path, Query
from fastapi.responses import Response

from backend.billing import service as billing
from backend.clock import business_today
from backend.customers import service as customers
from backend.db import unit_of_work
from backend.deps import CurrentStaff, RedisDep, ResourcesDep, SessionDep, SettingsDep, actor_of
from backend.documents.errors import DocumentNotFound
from backend.errors import NotFound, refusals
from backend.logging import get_logger
from backend.models import Channel, ConversationMessage, ConversationState
from backend.params import IdPath
from backend.redis import Redis
from backend.webchat import console_events
from backend.webchat import console_service as console
from backend.webchat import files as webchat_files
from backend.webchat.agent_schemas import (
    AttachmentOut,
    BotState,
    CloseIn,
    ConversationDetail,
    ConversationList,
    ConversationOut,
    CustomerSummary,
    MessageCreated,
    MessageList,
    MessageOut,
    ReplyIn,
    TransferIn,
)
from backend.webchat.errors import AttachmentNotFound
from bot import files as telegram_files
from dialogs import handover, transcript
from dialogs.handover import (
    AgentNotFound,
    AlreadyClaimed,
    AlreadyClosed,
    AlreadyHolder,
    ConversationChanged,
    ConversationNotFound,
    ListNotAllowed,
    NotHandedOver,
    NotWaiting,
    NotYourConversation,
)
from dialogs.state import FlowStore
from dialogs.transcript import ConversationRow

log = get_logger(__name__)
router = APIRouter(tags=["agent"])

# What a customer's file is served as; an unknown or active type (HTML, SVG) is a download.
_KIND_TYPES = {
    "photo": "image/jpeg",
    "sticker": "image/webp",
    "voice": "audio/ogg",
    "video": "video/mp4",
    "video_note": "video/mp4",
    "animation": "video/mp4",
}
# how a transcript row names a widget upload (docs/webchat-protocol.md, "Attachments")
WEB_FILE_PREFIX = "web:"
_INLINE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "audio/ogg", "audio/mpeg",
                 "video/mp4", "application/pdf"}  # fmt: skip


def _attachments(payload: dict[str, Any]) -> list[Any]:
    found = payload.get("attachments")
    return found if isinstance(found, list) else []


def _attachment_out(conversation_id: int, message_id: int, index: int, a: Any) -> AttachmentOut:
    has_file = isinstance(a, dict) and bool(a.get("file_id"))
    url = (
        f"/api/v1/agent/conversations/{conversation_id}/messages/{message_id}/attachments/{index}"
        if has_file
        else None
    )
    kind = str(a.get("kind", "")) if isinstance(a, dict) else ""
    filename = a.get("filename") if isinstance(a, dict) else None
    return AttachmentOut(index=index, kind=kind, filename=filename, url=url)


def _out(conv: ConversationRow) -> ConversationOut:
    return ConversationOut(
        id=conv.id,
        channel=conv.channel,
        state=conv.state.value,
        customer_id=conv.customer_id,
        agent_id=conv.agent_id,
        locale=conv.locale,
        updated_at=conv.updated_at,
    )


# Why an agent opens a conversation outside their lists; written to the audit log.
Reason = Annotated[str | None, Query(min_length=1, max_length=500)]


@router.get("/agent/conversations", responses=refusals(ListNotAllowed))
async def conversation_queue(
    session: SessionDep,
    staff: CurrentStaff,
    state: Annotated[ConversationState, Query()] = ConversationState.waiting_agent,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationList:
    """Conversations in a state, the longest waiting first: `waiting_agent` (the queue) for
    everyone; `agent`: the caller's own (claimed or transferred to them), every held one for an
    admin; `bot` and `closed` for admins only. Each with the customer's name and contract, the
    last message, the seconds in this state and the slots the bot collected."""
    rows = await handover.queue(session, state, actor_of(staff), limit=limit)
    return await console.conversation_list(session, rows)


@router.post(
    "/agent/conversations/{conversation_id}/claim",
    responses=refusals(ConversationNotFound, AlreadyClaimed, NotWaiting),
)
async def claim_conversation(
    conversation_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
    staff: CurrentStaff,
    background: BackgroundTasks,
) -> ConversationOut:
    """Take a waiting conversation. Of two agents claiming at once exactly one wins; the other
    gets 409 `already_claimed`."""
    conv = await handover.claim(session, settings, conversation_id, actor_of(staff))
    _announce(background, redis, conversation_id, "claimed")
    return _out(conv)


@router.post(
    "/agent/conversations/{conversation_id}/messages",
    status_code=201,
    responses=refusals(NotYourConversation, ConversationNotFound, DocumentNotFound),
)
async def reply_to_customer(
    conversation_id: IdPath,
    body: ReplyIn,
    session: SessionDep,
    redis: RedisDep,
    staff: CurrentStaff,
    background: BackgroundTasks,
) -> MessageCreated:
    """Reply with text or one of the customer's documents (only the agent holding it)."""
    message_id = await handover.reply(
        session, conversation_id, actor_of(staff), text=body.text, document_id=body.document_id
    )
    _announce(background, redis, conversation_id, "replied")
    return MessageCreated(message_id=message_id)


@router.post(
    "/agent/conversations/{conversation_id}/release",
    responses=refusals(NotYourConversation, ConversationNotFound),
)
async def release_conversation(
    conversation_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
    staff: CurrentStaff,
    background: BackgroundTasks,
) -> ConversationOut:
    """Hand the conversation back to the bot, which starts afresh."""
    conv = await handover.release(session, settings, conversation_id, actor_of(staff))
    # The database copy already has a newer revision; dropping Redis's only saves a compare.
    await FlowStore(redis).forget(conv.id)
    _announce(background, redis, conversation_id, "released")
    return _out(conv)


@router.post(
    "/agent/conversations/{conversation_id}/close",
    responses=refusals(NotYourConversation, ConversationNotFound, AlreadyClosed, NotHandedOver),
)
async def close_conversation(
    conversation_id: IdPath, body: CloseIn, session: SessionDep, settings: SettingsDep,
    redis: RedisDep, staff: CurrentStaff, background: BackgroundTasks,
) -> ConversationOut:  # fmt: skip
    """Close with a resolution; the customer's next message reopens it with the bot. Only a
    conversation waiting for or held by an agent (not while with the bot), by the agent holding
    it or an admin."""
    conv = await handover.close(
        session, settings, conversation_id, actor_of(staff), resolution=body.resolution
    )
    _announce(background, redis, conversation_id, "closed")
    return _out(conv)


@router.post(
    "/agent/conversations/{conversation_id}/transfer",
    responses=refusals(
        NotYourConversation,
        ConversationNotFound,
        AgentNotFound,
        AlreadyClosed,
        NotHandedOver,
        AlreadyHolder,
        ConversationChanged,
    ),
)
async def transfer_conversation(
    conversation_id: IdPath, body: TransferIn, session: SessionDep, settings: SettingsDep,
    redis: RedisDep, staff: CurrentStaff, background: BackgroundTasks,
) -> ConversationOut:  # fmt: skip
    """Hand the conversation to another agent or admin (the holder or an admin; an admin may
    also assign a waiting one). It is in their list from then on and no longer in the previous
    holder's."""
    conv = await handover.transfer(
        session, settings, conversation_id, actor_of(staff), to_agent_id=body.agent_id
    )
    _announce(background, redis, conversation_id, "transferred")
    return _out(conv)


def _announce(background: BackgroundTasks, redis: Redis, conversation_id: int, action: str) -> None:
    """Tell the live views in every process that the conversation changed: the widget's socket
    (backend/webchat/chat_socket.py) on `conv:{id}`, so the customer sees the agent's message or
    notice at once, and every agent console on `agents:events` when the queue changed. A
    background task runs after the response, so after the request's commit: whoever reads on
    the event finds the new rows."""
    console_events.announce(background, redis, conversation_id, action)


def _message_out(conv: ConversationRow, m: ConversationMessage) -> MessageOut:
    return MessageOut(
        id=m.id,
        direction=m.direction.value,
        sender=m.sender.value,
        agent_id=m.agent_id,
        text=m.text,
        item=(m.payload or {}).get("item"),
        attachments=[
            _attachment_out(conv.id, m.id, i, a)
            for i, a in enumerate(_attachments(m.payload or {}))
        ],
        created_at=m.created_at,
    )


@router.get(
    "/agent/conversations/{conversation_id}/messages", responses=refusals(ConversationNotFound)
)
async def conversation_messages(
    conversation_id: IdPath,
    session: SessionDep,
    staff: CurrentStaff,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    reason: Reason = None,
) -> MessageList:
    """The transcript alone (newest `limit` messages, oldest first). A conversation outside the
    caller's lists is shown too, and the look is audited (`conversation.viewed`, with `reason`)."""
    found = await handover.detail(
        session, conversation_id, actor_of(staff), limit=limit, reason=reason
    )
    return MessageList(items=[_message_out(found.conversation, m) for m in found.messages])


@router.get("/agent/conversations/{conversation_id}", responses=refusals(ConversationNotFound))
async def conversation_detail(
    conversation_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    staff: CurrentStaff,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    reason: Reason = None,
) -> ConversationDetail:
    """The transcript (newest `limit` messages), the bot's flow and slots, the customer, and the
    agents' internal notes. A conversation outside the caller's lists (the queue and their own)
    is shown too, and the look is audited (`conversation.viewed`, with `reason`)."""
    found = await handover.detail(
        session, conversation_id, actor_of(staff), limit=limit, reason=reason
    )
    conv = found.conversation
    customer = None
    if conv.customer_id is not None:
        try:
            c = await customers.get_customer(session, conv.customer_id)
            bal = await billing.balance(session, conv.customer_id, business_today(settings))
            sub = await billing.subscription(session, conv.customer_id)
            customer = CustomerSummary(
                id=c.id,
                full_name=c.full_name,
                contract_number=c.contract_number,
                balance=bal.amount,
                currency=bal.currency,
                days_left=bal.days_left,
                tariff=sub.tariff_name if sub else None,
                subscription_status=sub.status.value if sub else None,
            )
        except NotFound:
            customer = None
    return ConversationDetail(
        conversation=_out(conv),
        bot=BotState(
            flow=found.flow.flow,
            step=found.flow.step,
            slots=found.flow.slots,
            misses=found.flow.misses,
        ),
        customer=customer,
        messages=[_message_out(conv, m) for m in found.messages],
        notes=await console.notes_of(session, conv.id),
    )


@router.get(
    "/agent/conversations/{conversation_id}/messages/{message_id}/attachments/{index}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **refusals(
            ConversationNotFound,
            AttachmentNotFound,
            telegram_files.FileUnavailable,
            telegram_files.TelegramNotConfigured,
        ),
    },
)
async def attachment(
    conversation_id: IdPath,
    message_id: IdPath,
    index: Annotated[int, Path(ge=0, le=99)],
    resources: ResourcesDep,
    staff: CurrentStaff,
    reason: Reason = None,
) -> Response:
    """A photo, file or voice message the customer sent: a Telegram one is fetched from Telegram
    on demand, a web chat upload read from the database. From a conversation outside the
    caller's lists it is served too, and audited."""
    # A unit of work of its own instead of the request's: the look (and its audit row) is
    # committed before Telegram is asked, so no connection is held while Telegram answers.
    async with unit_of_work(resources.sessionmaker) as session:
        message = await transcript.message_in(session, conversation_id, message_id)
        items = _attachments(message.payload or {}) if message else []
        if message is None or index >= len(items):
            raise AttachmentNotFound()
        conv = await handover.open_for(
            session, conversation_id, actor_of(staff), reason=reason, what="attachment"
        )
        item = items[index]
        file_id = item.get("file_id") if isinstance(item, dict) else None
        if not file_id:
            raise AttachmentNotFound()
        web_file = None
        if conv.channel == Channel.webchat.value and str(file_id).startswith(WEB_FILE_PREFIX):
            # the widget's uploads are in the database (backend/webchat/files.py)
            web_file = await webchat_files.load_file(
                session, conv.id, str(file_id)[len(WEB_FILE_PREFIX) :]
            )
            if web_file is None:
                raise AttachmentNotFound()
        elif conv.channel != Channel.telegram.value:
            raise AttachmentNotFound()
    if web_file is not None:
        data, filename, media_type = web_file.data, web_file.filename, web_file.content_type
    else:
        data = await telegram_files.fetch_file(resources.settings, str(file_id))
        filename = item.get("filename") or f"{item.get('kind', 'file')}-{message_id}-{index}"
        media_type = _KIND_TYPES.get(str(item.get("kind"))) or (
            mimetypes.guess_type(str(filename))[0] or "application/octet-stream"
        )
    quoted = quote(str(filename)[:200], safe="")
    disposition = "inline" if media_type in _INLINE_TYPES else "attachment"
    if disposition == "attachment":
        media_type = "application/octet-stream"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quoted}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )
