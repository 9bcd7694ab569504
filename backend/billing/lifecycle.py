"""What follows a credit to an account: pending invoices are paid oldest first, an active
promised payment is settled once the balance can carry its reversal, and a subscription blocked
for debt is restored when the debt is covered. Called in the same transaction as the credit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.billing import ledger, repository
from backend.config import Settings
from backend.models import (
    Invoice,
    InvoiceStatus,
    PromisedPayment,
    PromisedPaymentStatus,
    Subscription,
    SubscriptionStatus,
    Suspension,
    SuspensionStatus,
    TransactionReason,
)


@dataclass
class CreditEffects:
    invoices_paid: list[int] = field(default_factory=list)
    promised_payment_settled: int | None = None
    restored_subscriptions: list[int] = field(default_factory=list)
    balance: int = 0


async def reverse_promised_payment(
    session: AsyncSession, pp: PromisedPayment, status: PromisedPaymentStatus, now: datetime
) -> None:
    """Take the promised credit back (once: the reversal has its own ledger reference)."""
    await ledger.post(
        session,
        customer_id=pp.customer_id,
        amount=-(pp.amount + pp.fee),
        reason=TransactionReason.promised_payment_reversal,
        reference_kind="promised_payment",
        reference=f"{pp.id}:reversal",
        description="promised payment reversal",
    )
    pp.status = status
    pp.resolved_at = now


async def after_credit(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    amount: int,
    now: datetime,
    *,
    invoice_id: int | None = None,
) -> CreditEffects:
    """Apply a credit of `amount` (already posted to the ledger) to invoices, the promised
    payment and a debt block. `invoice_id` directs the money to that invoice first."""
    effects = CreditEffects()

    # 1. invoices: the named one first, then the oldest pending ones
    remaining = amount
    query = (
        select(Invoice)
        .where(Invoice.customer_id == customer_id, Invoice.status == InvoiceStatus.pending)
        .order_by(Invoice.issued_on, Invoice.id)
        .with_for_update()
    )
    invoices = list(await session.scalars(query))
    if invoice_id is not None:
        invoices.sort(key=lambda inv: inv.id != invoice_id)
    for invoice in invoices:
        if remaining <= 0:
            break
        take = min(remaining, invoice.amount - invoice.paid_amount)
        invoice.paid_amount += take
        remaining -= take
        if invoice.paid_amount >= invoice.amount:
            invoice.status = InvoiceStatus.paid
            invoice.paid_at = now
            effects.invoices_paid.append(invoice.id)
            await outbox.enqueue(
                session,
                "invoice.paid",
                {"customer_id": customer_id, "invoice_id": invoice.id, "number": invoice.number},
                f"invoice-paid:{invoice.id}",
            )

    # 2. the promised payment is settled as soon as the balance can carry its reversal
    balance = await repository.balance(session, customer_id)
    pp = await session.scalar(
        select(PromisedPayment)
        .where(
            PromisedPayment.customer_id == customer_id,
            PromisedPayment.status == PromisedPaymentStatus.active,
        )
        .with_for_update()
    )
    if pp is not None and balance - (pp.amount + pp.fee) >= -settings.block_threshold:
        await reverse_promised_payment(session, pp, PromisedPaymentStatus.repaid, now)
        effects.promised_payment_settled = pp.id
        balance = await repository.balance(session, customer_id)

    # 3. a block for debt lifts when the debt is covered
    effects.restored_subscriptions = await restore_if_covered(
        session, settings, customer_id, now, balance
    )
    effects.balance = balance
    return effects


async def restore_if_covered(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    now: datetime,
    balance: int | None = None,
) -> list[int]:
    """Lift a block for debt when the balance is back above the threshold (after a payment or
    a promised payment). A subscription whose freeze is under way goes back to `suspended`:
    the pause goes on (no service, no tariff charge) and its end restores the service.
    Returns the ids of the subscriptions whose service is back."""
    if balance is None:
        balance = await repository.balance(session, customer_id)
    if balance < -settings.block_threshold:
        return []
    blocked = list(
        await session.scalars(
            select(Subscription)
            .where(
                Subscription.customer_id == customer_id,
                Subscription.status == SubscriptionStatus.blocked,
            )
            .with_for_update()
        )
    )
    if not blocked:
        return []
    frozen = set(
        await session.scalars(
            select(Suspension.subscription_id).where(
                Suspension.subscription_id.in_([sub.id for sub in blocked]),
                Suspension.status == SuspensionStatus.active,
            )
        )
    )
    restored = []
    for sub in blocked:
        sub.blocked_at = None
        if sub.id in frozen:
            sub.status = SubscriptionStatus.suspended
            continue
        sub.status = SubscriptionStatus.active
        restored.append(sub.id)
        await outbox.enqueue(
            session,
            "subscription.restored",
            {"customer_id": customer_id, "subscription_id": sub.id},
            f"restored:{sub.id}:{now.isoformat()}",
        )
    return restored
