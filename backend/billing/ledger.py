"""The ledger: how a balance changes. One transaction row per change, the cached balance
updated in the same DB transaction under the account's row lock, so
`accounts.balance == sum(transactions.amount)` always holds and each row's `balance_after` is
its account's running sum in id order.

It has two writers, and nothing else writes `transactions` or moves `accounts.balance`:

- `post` here: one movement at a time, idempotent per (reference_kind, reference). Every
  payment, refund, promised payment, freeze fee, tariff change and adjustment, and the billing
  run's charges on SQLite, go through it.
- The billing run's charges on PostgreSQL (`run_queries.charge_chunk`): one set-based
  statement per chunk of subscriptions, because a row-at-a-time `post` cannot charge 100k
  subscriptions a day at near raw-SQL speed (bench/billing_run.py). It keeps what `post`
  keeps: the chunk's accounts are locked (in id order) before anything is read; each row's
  `balance_after` is the account's balance minus the running sum of the chunk's charges, and
  the rows are inserted in that order; the balances move in the same statement, by exactly
  what was inserted; and the unique (reference_kind, reference) index makes each charge once
  (posted references are skipped, and `ON CONFLICT DO NOTHING` is the final guard). It posts
  only charges (reason and reference kind `charge`, references of `rules.charge_reference`).
  tests/backend/billing/test_bulk_ledger.py holds it to that, and the daily ledger check
  (`ledger_check`) compares every balance with its rows.

A new way to move money goes through `post`; a second bulk writer would owe the same proofs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from backend.audit.service import Actor
from backend.billing import repository
from backend.billing.errors import DuplicateReference as DuplicateReference
from backend.errors import NotFound, ValidationFailed
from backend.models import Transaction, TransactionReason

# 10 million roubles: anything larger in one movement is a typo or an attack.
MAX_ABS_AMOUNT = 1_000_000_000


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
