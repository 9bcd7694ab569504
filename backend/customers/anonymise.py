"""Erasing a customer's personal data on request (152-FZ) without deleting what the law and the
books keep: the customer row stays (with its contract number) and so do the account, the ledger,
invoices, payments, documents and the audit log. Customers are never deleted: their money rows
refuse it (docs/security.md, "Erasure of personal data").

Refused while money or service is open: a non-zero balance, an unpaid invoice, a pending
payment, an active promised payment, a subscription not ended or an open ticket. Settle those
first (an adjustment, closing the subscription), then anonymise."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.auth import admin as user_admin
from backend.auth.tokens import Principal
from backend.clock import utcnow
from backend.customers.errors import (
    CustomerAlreadyAnonymised,
    CustomerNotFound,
    CustomerNotSettled,
)
from backend.customers.linking import ConversationAccess, cut_customer_access
from backend.models import (
    Account,
    AuditEntry,
    ChannelIdentity,
    Conversation,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    PromisedPayment,
    PromisedPaymentStatus,
    RecoveryCode,
    RefreshToken,
    Subscription,
    Ticket,
    TicketMessage,
    TicketStatus,
    User,
)
from backend.models.customer import default_notification_preferences
from backend.models.user import PasswordResetCode
from backend.state import Resources

ACTION = "customer.anonymise"
REMOVED = "[removed]"
# No password hashes to this: the account cannot sign in even if reactivated by mistake.
UNUSABLE_HASH = "!anonymised"


# --- queries ----------------------------------------------------------------------------------


async def _lock_customer(session: AsyncSession, customer_id: int) -> Customer | None:
    # The account row too: every balance change takes its lock (backend.billing.ledger), so
    # the balance checked here cannot move before the commit.
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    )
    if customer is not None:
        await session.execute(
            select(Account.id).where(Account.customer_id == customer_id).with_for_update()
        )
    return customer


async def _already_anonymised(session: AsyncSession, customer_id: int) -> bool:
    found = await session.scalar(
        select(AuditEntry.id)
        .where(
            AuditEntry.object_type == "customer",
            AuditEntry.object_id == str(customer_id),
            AuditEntry.action == ACTION,
        )
        .limit(1)
    )
    return found is not None


async def _count(session: AsyncSession, model: Any, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def open_items(session: AsyncSession, customer_id: int, today: date) -> dict[str, int]:
    """What stops the anonymisation: each open kind with its count (the balance in minor
    units); empty when the customer is settled."""
    balance = await session.scalar(
        select(Account.balance).where(Account.customer_id == customer_id)
    )
    found = {
        "balance": int(balance or 0),
        "unpaid_invoices": await _count(
            session,
            Invoice,
            Invoice.customer_id == customer_id,
            Invoice.status == InvoiceStatus.pending,
        ),
        "pending_payments": await _count(
            session,
            Payment,
            Payment.customer_id == customer_id,
            Payment.status == PaymentStatus.pending,
        ),
        "active_promised_payments": await _count(
            session,
            PromisedPayment,
            PromisedPayment.customer_id == customer_id,
            PromisedPayment.status == PromisedPaymentStatus.active,
        ),
        "open_subscriptions": await _count(
            session,
            Subscription,
            Subscription.customer_id == customer_id,
            or_(Subscription.ended_on.is_(None), Subscription.ended_on >= today),
        ),
        "open_tickets": await _count(
            session,
            Ticket,
            Ticket.customer_id == customer_id,
            Ticket.status.in_([TicketStatus.open, TicketStatus.in_progress]),
        ),
    }
    return {kind: n for kind, n in found.items() if n}


async def _erase_user(session: AsyncSession, user: User) -> None:
    user.email = None
    user.phone = None
    user.password_hash = UNUSABLE_HASH
    user.totp_secret_encrypted = None
    user.totp_enabled = False
    user.totp_last_timecode = None
    # sessions (with their addresses and browsers) and codes go entirely
    for model in (RefreshToken, RecoveryCode, PasswordResetCode):
        await session.execute(delete(model).where(model.user_id == user.id))


async def _erase_support_texts(session: AsyncSession, customer_id: int) -> int:
    ticket_ids = select(Ticket.id).where(Ticket.customer_id == customer_id)
    await session.execute(
        update(TicketMessage)
        .where(TicketMessage.ticket_id.in_(ticket_ids))
        .values(body=REMOVED)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        update(Ticket)
        .where(Ticket.customer_id == customer_id)
        .values(subject=REMOVED, description=REMOVED, details={})
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- the use case -----------------------------------------------------------------------------


async def anonymise_customer(
    session: AsyncSession,
    res: Resources,
    admin: Principal,
    customer_id: int,
    today: date,
    *,
    conversations: ConversationAccess,
) -> dict[str, Any]:
    """Replace the customer's personal data, deactivate their sign-in, unlink their chats and
    devices and delete their conversations; keep every money, document and audit row."""
    actor = Actor(user_id=admin.user_id, role=admin.role)
    customer = await _lock_customer(session, customer_id)
    if customer is None:
        raise CustomerNotFound()
    if await _already_anonymised(session, customer_id):
        raise CustomerAlreadyAnonymised()
    blockers = await open_items(session, customer_id, today)
    if blockers:
        raise CustomerNotSettled(open=blockers)

    # Telegram links and every conversation of the customer are cut (the next turn in the chat
    # is anonymous); the transcripts then go. First, so that the ids of the cut are ours
    # (deactivating a customer's sign-in cuts them too).
    cut = await cut_customer_access(session, customer_id, actor, conversations=conversations)
    if cut:
        await session.execute(delete(Conversation).where(Conversation.id.in_(cut)))

    user_id = customer.user_id
    if user_id is not None:
        # sign-in ends at once in every process (tokens denied, sessions revoked)
        user = await user_admin.deactivate(
            session, res, admin, user_id, conversations=conversations
        )
        await _erase_user(session, user)
    devices = await session.execute(
        delete(ChannelIdentity).where(ChannelIdentity.customer_id == customer_id)
    )
    tickets = await _erase_support_texts(session, customer_id)

    customer.full_name = REMOVED
    customer.phone = None
    customer.email = None
    customer.address = {}
    customer.network_area = None
    customer.network_node = None
    customer.notification_preferences = {key: False for key in default_notification_preferences()}
    await session.flush()
    outcome = {
        "customer_id": customer.id,
        "contract_number": customer.contract_number,
        "user_id": user_id,
        "conversations_deleted": len(cut),
        "devices_removed": int(getattr(devices, "rowcount", 0) or 0),
        "tickets_redacted": tickets,
        "anonymised_at": utcnow(),
    }
    await audit.record(
        session,
        ACTION,
        actor,
        "customer",
        customer.id,
        user_id=user_id,
        conversations_deleted=outcome["conversations_deleted"],
        devices_removed=outcome["devices_removed"],
        tickets_redacted=tickets,
    )
    return outcome
