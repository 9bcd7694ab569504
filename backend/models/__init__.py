"""Every table, one module each; importing this package registers them all on Base.metadata."""

from backend.clock import utcnow
from backend.models.account import Account, Transaction
from backend.models.audit import AuditEntry
from backend.models.base import Base
from backend.models.billing_run import BillingRun
from backend.models.broadcast import Broadcast, BroadcastStatus
from backend.models.channel_identity import ChannelIdentity
from backend.models.console import CannedResponse, ConversationNote, WebchatFile
from backend.models.conversation import Conversation, ConversationMessage
from backend.models.customer import Customer
from backend.models.document import Document
from backend.models.enrolment_link import EnrolmentLink
from backend.models.enums import (
    BillingPeriod,
    BillingRunStatus,
    Channel,
    ConversationState,
    DocumentKind,
    InvoiceStatus,
    MessageDirection,
    MessageSender,
    OutageStatus,
    OutboxStatus,
    PaymentStatus,
    PromisedPaymentStatus,
    Role,
    SubscriptionStatus,
    SuspensionStatus,
    TicketCategory,
    TicketPriority,
    TicketStatus,
    TransactionReason,
)
from backend.models.idempotency import IdempotencyKey
from backend.models.invoice import Invoice
from backend.models.notification_delivery import NotificationDelivery
from backend.models.outage import Outage, OutageSubscription
from backend.models.outbox import OutboxMessage
from backend.models.payment import Payment
from backend.models.promised_payment import PromisedPayment
from backend.models.subscription import Subscription
from backend.models.suspension import Suspension
from backend.models.tariff import Tariff
from backend.models.telegram_update import TelegramUpdate
from backend.models.ticket import Ticket, TicketMessage
from backend.models.user import PasswordResetCode, RecoveryCode, RefreshToken, User

__all__ = [
    "Account",
    "AuditEntry",
    "Base",
    "BillingPeriod",
    "BillingRun",
    "BillingRunStatus",
    "Broadcast",
    "BroadcastStatus",
    "CannedResponse",
    "Channel",
    "ChannelIdentity",
    "Conversation",
    "ConversationMessage",
    "ConversationNote",
    "ConversationState",
    "Customer",
    "Document",
    "DocumentKind",
    "EnrolmentLink",
    "IdempotencyKey",
    "Invoice",
    "InvoiceStatus",
    "MessageDirection",
    "MessageSender",
    "NotificationDelivery",
    "Outage",
    "OutageStatus",
    "OutageSubscription",
    "OutboxMessage",
    "OutboxStatus",
    "PasswordResetCode",
    "Payment",
    "PaymentStatus",
    "PromisedPayment",
    "PromisedPaymentStatus",
    "RecoveryCode",
    "RefreshToken",
    "Role",
    "Subscription",
    "SubscriptionStatus",
    "Suspension",
    "SuspensionStatus",
    "Tariff",
    "TelegramUpdate",
    "Ticket",
    "TicketCategory",
    "TicketMessage",
    "TicketPriority",
    "TicketStatus",
    "Transaction",
    "TransactionReason",
    "User",
    "WebchatFile",
    "utcnow",
]
