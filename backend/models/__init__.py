"""Every table, one module each; importing this package registers them all on Base.metadata."""

from backend.models.account import Account, Transaction
from backend.models.audit import AuditEntry
from backend.models.base import Base, utcnow
from backend.models.channel_identity import ChannelIdentity
from backend.models.conversation import Conversation, ConversationMessage
from backend.models.customer import Customer
from backend.models.document import Document
from backend.models.enums import (
    BillingPeriod,
    Channel,
    ConversationState,
    DocumentKind,
    InvoiceStatus,
    MessageDirection,
    MessageSender,
    OutboxStatus,
    PaymentStatus,
    Role,
    SubscriptionStatus,
    TicketCategory,
    TicketPriority,
    TicketStatus,
    TransactionReason,
)
from backend.models.invoice import Invoice
from backend.models.outbox import OutboxMessage
from backend.models.payment import Payment
from backend.models.subscription import Subscription
from backend.models.tariff import Tariff
from backend.models.ticket import Ticket, TicketMessage
from backend.models.user import PasswordResetCode, RecoveryCode, RefreshToken, User

__all__ = [
    "Account",
    "AuditEntry",
    "Base",
    "BillingPeriod",
    "Channel",
    "ChannelIdentity",
    "Conversation",
    "ConversationMessage",
    "ConversationState",
    "Customer",
    "Document",
    "DocumentKind",
    "Invoice",
    "InvoiceStatus",
    "MessageDirection",
    "MessageSender",
    "OutboxMessage",
    "OutboxStatus",
    "PasswordResetCode",
    "Payment",
    "PaymentStatus",
    "RecoveryCode",
    "RefreshToken",
    "Role",
    "Subscription",
    "SubscriptionStatus",
    "Tariff",
    "Ticket",
    "TicketCategory",
    "TicketMessage",
    "TicketPriority",
    "TicketStatus",
    "Transaction",
    "TransactionReason",
    "User",
    "utcnow",
]
