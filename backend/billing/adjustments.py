"""Staff money adjustments: a signed correction of a customer's balance with a reason, by an
admin only.

Two layers keep a repeated request from posting twice: the endpoint runs under
backend.idempotency (a repeat with the same key and body gets the stored answer), and the key
itself is the ledger reference (`adjustment:<admin user id>:<key>`, unique in the database),
so even a call that bypasses the stored answer posts once."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from backend import idempotency
from backend.audit import service as audit
from backend.audit.service import Actor
from backend.billing import ledger, lifecycle, repository
from backend.billing.action_schemas import AdjustmentIn, AdjustmentOut
from backend.config import Settings
from backend.customers.errors import CustomerNotFound
from backend.models import Transaction, TransactionReason

REFERENCE_KIND = "adjustment"
_MAX_REFERENCE = 128  # transactions.reference


def ledger_reference(user_id: int | None, key: str) -> str:
    reference = f"adjustment:{user_id}:{key}"
    if len(reference) <= _MAX_REFERENCE:
        return reference
    # A long key (up to 128 characters are allowed) is kept by its digest.
    return f"adjustment:{user_id}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _description(reason: str) -> str:
    return reason[:255]


def _out(txn: Transaction, customer_id: int, reason: str) -> AdjustmentOut:
    return AdjustmentOut(
        transaction_id=txn.id,
        customer_id=customer_id,
        amount=txn.amount,
        reason=reason,
        balance_after=txn.balance_after,
        currency=txn.currency,
        created_at=txn.created_at,
    )


async def adjust(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    data: AdjustmentIn,
    idempotency_key: str | None,
    now: datetime,
    actor: Actor,
) -> AdjustmentOut:
    key = idempotency.validate_key(idempotency_key)
    account = await repository.lock_account(session, customer_id)
    if account is None:
        raise CustomerNotFound()
    reference = ledger_reference(actor.user_id, key)
    # Under the account lock: a concurrent repeat waits here and then finds the first row.
    existing = await repository.transaction_by_reference(session, REFERENCE_KIND, reference)
    if existing is not None:
        if (
            existing.account_id != account.id
            or existing.amount != data.amount
            or existing.description != _description(data.reason)
        ):
            raise idempotency.IdempotencyKeyReused()
        return _out(existing, customer_id, data.reason)
    txn, _ = await ledger.post(
        session,
        customer_id=customer_id,
        amount=data.amount,
        reason=TransactionReason.adjustment,
        reference_kind=REFERENCE_KIND,
        reference=reference,
        description=_description(data.reason),
        actor=actor,
    )
    await audit.record(
        session,
        "billing.adjustment",
        actor,
        "customer",
        customer_id,
        transaction_id=txn.id,
        amount=data.amount,
        reason=data.reason,
        balance_after=txn.balance_after,
    )
    if data.amount > 0:
        await lifecycle.after_credit(session, settings, customer_id, data.amount, now)
    return _out(txn, customer_id, data.reason)
