from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import Enum


def str_enum(enum_cls: type[StrEnum], name: str) -> Enum:
    """A VARCHAR with a CHECK constraint: portable and cheap to extend in a migration."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Role(StrEnum):
    customer = "customer"
    agent = "agent"
    admin = "admin"


class SubscriptionStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    blocked = "blocked"


class BillingPeriod(StrEnum):
    daily = "daily"
    monthly = "monthly"


class InvoiceStatus(StrEnum):
    pending = "pending"
    paid = "paid"
    cancelled = "cancelled"


class PaymentStatus(StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    cancelled = "cancelled"
    failed = "failed"
    expired = "expired"  # left pending past PAYMENT_PENDING_EXPIRE_HOURS (reconciliation)


class TransactionReason(StrEnum):
    topup = "topup"
    charge = "charge"
    refund = "refund"
    fee = "fee"
    promised_payment = "promised_payment"
    promised_payment_reversal = "promised_payment_reversal"
    adjustment = "adjustment"
    opening_balance = "opening_balance"


class TicketStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"


class TicketPriority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class TicketCategory(StrEnum):
    no_internet = "no_internet"
    slow_internet = "slow_internet"
    payment = "payment"
    tariff = "tariff"
    documents = "documents"
    equipment = "equipment"
    connection = "connection"
    other = "other"


class DocumentKind(StrEnum):
    contract = "contract"
    invoice = "invoice"
    act = "act"


class Channel(StrEnum):
    telegram = "telegram"
    webchat = "webchat"
    fcm = "fcm"
    email = "email"
    sms = "sms"


class ConversationState(StrEnum):
    bot = "bot"
    waiting_agent = "waiting_agent"
    agent = "agent"
    closed = "closed"


class MessageDirection(StrEnum):
    inbound = "in"
    outbound = "out"


class MessageSender(StrEnum):
    customer = "customer"
    bot = "bot"
    agent = "agent"
    system = "system"


class OutboxStatus(StrEnum):
    pending = "pending"
    processing = "processing"
    done = "done"
    dead = "dead"


def enum_values(enum_cls: type[StrEnum]) -> list[Any]:
    return [m.value for m in enum_cls]


class PromisedPaymentStatus(StrEnum):
    active = "active"
    repaid = "repaid"
    expired = "expired"


class SuspensionStatus(StrEnum):
    scheduled = "scheduled"
    active = "active"
    finished = "finished"
    cancelled = "cancelled"


class BillingRunStatus(StrEnum):
    running = "running"
    finished = "finished"
    failed = "failed"


class OutageStatus(StrEnum):
    open = "open"
    resolved = "resolved"
