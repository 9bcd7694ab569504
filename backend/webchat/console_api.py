"""The agent console's REST API beyond the hand-over (docs/agent-console.md, "API"): presence,
the staff list, canned responses, internal notes, the typing indicator, payment links, turning a
conversation into a ticket, the caller's own conversations, the customer search and card.
Agents and admins with 2FA; admins manage canned responses. Every change is audited and
announced on Redis after its commit (backend/webchat/console_events.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Response, status
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from backend import idempotency
from backend.audit import service as audit
from backend.auth import repository as auth_repository
from backend.customers.errors import CustomerNotFound
from backend.deps import (
    CurrentAdmin,
    CurrentStaff,
    LimiterDep,
    RedisDep,
    ResourcesDep,
    SessionDep,
    SettingsDep,
    actor_of,
)
from backend.errors import Forbidden, RateLimited, refusals
from backend.idempotency import (
    IdempotencyKeyDep,
    IdempotencyKeyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
)
from backend.models import Role
from backend.params import IdPath
from backend.payments.errors import AmountOutOfRange, ProviderUnavailable
from backend.support.schemas import StaffTicketOut
from backend.webchat import console_service as service
from backend.webchat import presence
from backend.webchat.agent_schemas import ConversationList, NoteOut
from backend.webchat.console_events import announce, announce_event
from backend.webchat.console_schemas import (
    AgentList,
    AgentOut,
    CannedIn,
    CannedList,
    CannedOut,
    CannedPatch,
    CannedSent,
    CannedText,
    CustomerCard,
    CustomerHits,
    NoteIn,
    NoteList,
    PaymentLinkIn,
    PaymentLinkOut,
    PresenceIn,
    PresenceOut,
    TicketFromConversationIn,
    TypingOut,
)
from backend.webchat.errors import CannedResponseNotFound
from dialogs import handover
from dialogs.handover import (
    AGENTS_CHANNEL,
    EVENTS_CHANNEL,
    AnonymousConversation,
    ConversationNotFound,
    NotYourConversation,
)

router = APIRouter(tags=["agent console"])

# One typing event per agent and conversation per this many seconds reaches the customer.
TYPING_EVERY_SECONDS = 2
Reason = Annotated[str | None, Query(min_length=1, max_length=500)]


# --- presence -------------------------------------------------------------------------------


@router.put("/agent/presence")
async def set_presence(
    body: PresenceIn,
    resources: ResourcesDep,
    session: SessionDep,
    staff: CurrentStaff,
    background: BackgroundTasks,
) -> PresenceOut:
    """The caller's status: `online` or `away` lasts 90 s and the console repeats it as its
    heartbeat; `offline` (or no heartbeat for 90 s) puts the caller's conversations whose
    customer waits for an answer back in the queue. A change of status is audited."""
    redis = resources.redis
    before = await presence.status_of(redis, staff.user_id)
    if body.status == "offline":
        requeued = await presence.go_offline(resources, staff.user_id, actor=actor_of(staff))
    else:
        await presence.set_status(redis, staff.user_id, body.status)
        requeued = []
        if before != body.status:
            announce_event(
                background,
                redis,
                AGENTS_CHANNEL,
                {"type": "presence", "user_id": staff.user_id, "status": body.status},
            )
    if before != body.status:
        await audit.record(
            session,
            presence.PRESENCE_ACTION,
            actor_of(staff),
            "user",
            staff.user_id,
            status=body.status,
            previous=before,
            requeued=requeued,
        )
    return PresenceOut(status=body.status, requeued=requeued)


@router.get("/agent/agents")
async def list_agents(session: SessionDep, redis: RedisDep, staff: CurrentStaff) -> AgentList:
    """Active agents and admins with their presence (for transfers and the team view)."""
    users = await service.staff(session)
    found = await presence.statuses(redis, [u.id for u in users])
    return AgentList(
        items=[
            AgentOut(
                id=u.id,
                display_name=u.display_name,
                role="admin" if u.role is Role.admin else "agent",
                status=found.get(u.id, "offline"),
            )
            for u in users
        ]
    )


# --- canned responses -----------------------------------------------------------------------


@router.get("/agent/canned-responses")
async def canned_responses(
    session: SessionDep,
    staff: CurrentStaff,
    locale: Annotated[str | None, Query(pattern="^(ru|en)$")] = None,
    include_inactive: bool = False,
) -> CannedList:
    """Active canned responses, by title; with `locale`, that language's and those for every
    language. `include_inactive` is for admins."""
    if include_inactive and staff.role is not Role.admin:
        raise Forbidden("admin role required to list switched-off canned responses")
    rows = await service.canned_list(session, locale=locale, include_inactive=include_inactive)
    return CannedList(items=[CannedOut.model_validate(r) for r in rows])


@router.post("/agent/canned-responses", status_code=status.HTTP_201_CREATED)
async def create_canned(body: CannedIn, session: SessionDep, admin: CurrentAdmin) -> CannedOut:
    """Admins: a new canned response. Placeholders: {name}, {first_name}, {contract},
    {balance}, {agent}; any other `{word}` is sent as typed."""
    return CannedOut.model_validate(await service.canned_create(session, body, actor_of(admin)))


@router.patch("/agent/canned-responses/{canned_id}", responses=refusals(CannedResponseNotFound))
async def update_canned(
    canned_id: IdPath, body: CannedPatch, session: SessionDep, admin: CurrentAdmin
) -> CannedOut:
    """Admins: change the fields given (`is_active: false` hides it from agents)."""
    found = await service.canned_update(session, canned_id, body, actor_of(admin))
    return CannedOut.model_validate(found)


@router.delete(
    "/agent/canned-responses/{canned_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=refusals(CannedResponseNotFound),
)
async def delete_canned(canned_id: IdPath, session: SessionDep, admin: CurrentAdmin) -> Response:
    await service.canned_delete(session, canned_id, actor_of(admin))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/agent/conversations/{conversation_id}/canned/{canned_id}",
    responses=refusals(ConversationNotFound, NotYourConversation, CannedResponseNotFound),
)
async def preview_canned(
    conversation_id: IdPath,
    canned_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    staff: CurrentStaff,
) -> CannedText:
    """The canned response filled in for this conversation, without sending it (the holder)."""
    text = await service.preview_canned(
        session, settings, conversation_id, canned_id, actor_of(staff)
    )
    return CannedText(text=text)


@router.post(
    "/agent/conversations/{conversation_id}/canned/{canned_id}",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(ConversationNotFound, NotYourConversation, CannedResponseNotFound),
)
async def send_canned(
    conversation_id: IdPath,
    canned_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
    staff: CurrentStaff,
    background: BackgroundTasks,
) -> CannedSent:
    """Send a canned response, filled in from the customer's card, as the holder's reply."""
    message_id, text = await service.send_canned(
        session, settings, conversation_id, canned_id, actor_of(staff)
    )
    announce(background, redis, conversation_id, "replied")
    return CannedSent(message_id=message_id, text=text)


# --- notes and typing -----------------------------------------------------------------------


@router.get(
    "/agent/conversations/{conversation_id}/notes", responses=refusals(ConversationNotFound)
)
async def conversation_notes(
    conversation_id: IdPath, session: SessionDep, staff: CurrentStaff, reason: Reason = None
) -> NoteList:
    """The internal notes, oldest first. Those of a conversation outside the caller's lists
    are shown too, and the look is audited (`conversation.viewed`)."""
    found = await service.notes(session, conversation_id, actor_of(staff), reason=reason)
    return NoteList(items=found)


@router.post(
    "/agent/conversations/{conversation_id}/notes",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(ConversationNotFound),
)
async def add_note(
    conversation_id: IdPath,
    body: NoteIn,
    session: SessionDep,
    redis: RedisDep,
    staff: CurrentStaff,
    background: BackgroundTasks,
) -> NoteOut:
    """An internal note: every agent sees it, the customer never does."""
    note = await service.add_note(session, conversation_id, actor_of(staff), body.text)
    announce_event(
        background,
        redis,
        EVENTS_CHANNEL.format(conversation_id),
        {"type": "note", "conversation_id": conversation_id, "note_id": note.id},
    )
    return note


@router.post(
    "/agent/conversations/{conversation_id}/typing",
    responses=refusals(ConversationNotFound, NotYourConversation),
)
async def agent_typing(
    conversation_id: IdPath, session: SessionDep, redis: RedisDep, staff: CurrentStaff
) -> TypingOut:
    """The holder is typing: the customer's widget shows it. At most one event per 2 s is
    published (`published: false` for the others); nothing is stored."""
    await handover.held_by_holder(session, conversation_id, actor_of(staff))
    try:
        fresh = await redis.set(
            f"typing:{conversation_id}:{staff.user_id}", "1", nx=True, ex=TYPING_EVERY_SECONDS
        )
    except RedisError:
        return TypingOut(published=False)
    if not fresh:
        return TypingOut(published=False)
    user = await auth_repository.user_by_id(session, staff.user_id)
    await service.publish_typing(
        redis, conversation_id, user.display_name if user is not None else None
    )
    return TypingOut(published=True)


# --- payment link and ticket ----------------------------------------------------------------


@router.post(
    "/agent/conversations/{conversation_id}/payment-link",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentLinkOut,
    responses=refusals(
        ConversationNotFound,
        NotYourConversation,
        AnonymousConversation,
        AmountOutOfRange,
        IdempotencyKeyRequired,
        IdempotencyKeyInvalid,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
        RateLimited,
        ProviderUnavailable,
    ),
)
async def send_payment_link(
    conversation_id: IdPath,
    body: PaymentLinkIn,
    key: IdempotencyKeyDep,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    redis: RedisDep,
    staff: CurrentStaff,
    background: BackgroundTasks,
) -> JSONResponse:
    """Create a top-up payment for the conversation's customer and send its link as the
    holder's message (a `payment` item, shown by the widget and Telegram as the bot's).
    Requires `Idempotency-Key`: a repeat with the same key sends nothing new."""
    actor = actor_of(staff)

    async def action() -> PaymentLinkOut:
        message_id, item = await handover.reply_payment(
            session, settings, limiter, conversation_id, actor, amount=body.amount
        )
        return PaymentLinkOut(
            message_id=message_id,
            payment_id=item.payment_public_id,
            amount=item.amount,
            currency=item.currency,
            confirmation_url=item.confirmation_url,
        )

    response = await idempotency.run(
        session,
        user_id=staff.user_id,
        key=key,
        endpoint=f"agent.payment_link:{conversation_id}",
        request=body,
        action=action,
        status_code=status.HTTP_201_CREATED,
    )
    announce(background, redis, conversation_id, "replied")
    return response


@router.post(
    "/agent/conversations/{conversation_id}/ticket",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(ConversationNotFound, NotYourConversation, AnonymousConversation),
)
async def conversation_to_ticket(
    conversation_id: IdPath,
    body: TicketFromConversationIn,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
    staff: CurrentStaff,
    background: BackgroundTasks,
) -> StaffTicketOut:
    """Open a ticket for the conversation's customer with the recent transcript as its
    description (the holder, or an admin); the customer is told its number in the chat. The
    conversation itself stays as it is."""
    ticket = await service.ticket_from_conversation(
        session,
        settings,
        conversation_id,
        actor_of(staff),
        subject=body.subject,
        category=body.category,
    )
    announce(background, redis, conversation_id, "ticket")
    return StaffTicketOut.model_validate(ticket)


# --- the caller's conversations, customers --------------------------------------------------


@router.get("/agent/my-conversations")
async def my_conversations(session: SessionDep, staff: CurrentStaff) -> ConversationList:
    """The conversations the caller holds, the longest held first, each with `awaiting_reply`
    (the customer wrote after the caller's last message) and the queue's details."""
    return await service.conversation_list(session, await service.held(session, staff.user_id))


@router.get("/agent/customers/search")
async def search_customers(
    session: SessionDep,
    staff: CurrentStaff,
    q: Annotated[str, Query(min_length=2, max_length=100)],
) -> CustomerHits:
    """Up to 20 customers by contract number (prefix), phone (digits, any format), name or
    e-mail (substring), or a linked Telegram account (numeric id or @username when known);
    case-insensitive, contract matches first."""
    return CustomerHits(items=await service.search(session, q))


@router.get("/agent/customers/{customer_id}/card", responses=refusals(CustomerNotFound))
async def customer_card(
    customer_id: IdPath, session: SessionDep, settings: SettingsDep, staff: CurrentStaff
) -> CustomerCard:
    """The customer beside the chat: status, balance, days left, tariff, promised payment,
    pause, open tickets, recent payments, documents, linked channels and conversations."""
    return await service.card(session, settings, customer_id)
