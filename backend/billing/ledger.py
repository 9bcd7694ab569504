"""The ledger: the only way a balance changes. One transaction row per change, the cached
balance updated in the same DB transaction under the account's row lock, so
`accounts.balance == sum(transactions.amount)` always holds."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from backend.audit.service import Actor
from backend.billing import repository
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.models import Transaction, TransactionReason

# 10 million roubles: anything larger in one movement is a typo or an attack.
MAX_ABS_AMOUNT = 1_000_000_000


class DuplicateReference(Conflict):
    code = "duplicate_reference"
    detail = "this reference was already posted with different terms"


async def post(
    session: AsyncSession,
    *,
    customer_id: int,
    amount: int,
    reason: TransactionReason,
    reference_kind: str | None = None,
    reference: str | None = None,
    description: str | None = None,
    actor: Actor | None = None,
    currency: str | None = None,
) -> tuple[Transaction, bool]:
    """Post a signed amount (minor units). Idempotent per (reference_kind, reference): posting
    the same reference again returns the first transaction and `False`."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationFailed("amount must be an integer number of minor units")
    if amount == 0 or abs(amount) > MAX_ABS_AMOUNT:
        raise ValidationFailed("amount must be non-zero and at most 10,000,000.00")
    if (reference_kind is None) != (reference is None):
        raise ValidationFailed("reference_kind and reference go together")
    account = await repository.lock_account(session, customer_id)
    if account is None:
        raise NotFound("customer has no account")
    if currency is not None and currency != account.currency:
        raise ValidationFailed(f"account currency is {account.currency}")
    if reference_kind is not None and reference is not None:
        existing = await repository.transaction_by_reference(session, reference_kind, reference)
        if existing is not None:
            if existing.account_id != account.id or existing.amount != amount:
                raise DuplicateReference()
            return existing, False
    balance_after = await repository.add_to_balance(session, account.id, amount)
    txn = Transaction(
        account_id=account.id,
        amount=amount,
        currency=account.currency,
        reason=reason,
        reference_kind=reference_kind,
        reference=reference,
        description=description,
        balance_after=balance_after,
        created_by_user_id=actor.user_id if actor else None,
    )
    session.add(txn)
    await session.flush()
    set_committed_value(account, "balance", balance_after)  # already written by the UPDATE
    return txn, True
