from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Account, Transaction


async def lock_account(session: AsyncSession, customer_id: int) -> Account | None:
    """The customer's account under a row lock (PostgreSQL; SQLite serialises writers)."""
    return await session.scalar(
        select(Account).where(Account.customer_id == customer_id).with_for_update()
    )


async def transaction_by_reference(
    session: AsyncSession, reference_kind: str, reference: str
) -> Transaction | None:
    return await session.scalar(
        select(Transaction).where(
            Transaction.reference_kind == reference_kind, Transaction.reference == reference
        )
    )


async def add_to_balance(session: AsyncSession, account_id: int, amount: int) -> int:
    """Atomic `balance = balance + amount`; returns the new balance."""
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(balance=Account.balance + amount)
        .returning(Account.balance)
    )
    return int(result.scalar_one())


async def transactions_sum(session: AsyncSession, account_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Transaction.amount), 0)).where(
            Transaction.account_id == account_id
        )
    )
    return int(total or 0)


async def recent_transactions(
    session: AsyncSession, account_id: int, limit: int, before_id: int | None = None
) -> list[Transaction]:
    query = (
        select(Transaction)
        .where(Transaction.account_id == account_id)
        .order_by(Transaction.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(Transaction.id < before_id)
    return list((await session.scalars(query)).all())
