"""Shared helpers of the billing tests (billing run, tariff change, promised payment,
suspension, adjustments): the money and rows they assert on, read through the test session.
Plain functions the test modules import, as the payments tests import theirs; the app and the
signed-in people come from the root fixtures (`app`, `as_customer`, `as_staff`)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Account, AuditEntry, OutboxMessage, Transaction
from backend.state import Resources

T = TypeVar("T")


def with_settings(resources: Resources, **overrides: Any) -> Resources:
    """The shared engine and Redis under settings with `overrides` (e.g. a billing chunk size)."""
    return dataclasses.replace(resources, settings=resources.settings.model_copy(update=overrides))


async def balance_of(session: AsyncSession, customer_id: int) -> int:
    value = await session.scalar(select(Account.balance).where(Account.customer_id == customer_id))
    assert value is not None
    return int(value)


async def transactions_of(session: AsyncSession, customer_id: int) -> list[Transaction]:
    rows = await session.scalars(
        select(Transaction)
        .join(Account, Account.id == Transaction.account_id)
        .where(Account.customer_id == customer_id)
        .order_by(Transaction.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def money_snapshot(session: AsyncSession) -> tuple[int, int]:
    """(number of ledger rows, sum of balances): equal before and after = no money moved."""
    count = await session.scalar(select(func.count()).select_from(Transaction))
    total = await session.scalar(select(func.coalesce(func.sum(Account.balance), 0)))
    return int(count or 0), int(total or 0)


async def assert_ledger_invariant(session: AsyncSession) -> None:
    """balance == sum(transactions) for every account."""
    rows = (
        await session.execute(
            select(Account.id, Account.balance, func.coalesce(func.sum(Transaction.amount), 0))
            .outerjoin(Transaction, Transaction.account_id == Account.id)
            .group_by(Account.id, Account.balance)
        )
    ).all()
    for account_id, balance, total in rows:
        assert balance == total, f"account {account_id}: balance {balance} != sum {total}"


async def fresh(session: AsyncSession, model: type[T], ident: int) -> T:
    """The row as committed now (the test session may hold an older copy)."""
    found = await session.get(model, ident, populate_existing=True)
    assert found is not None
    return found


async def outbox_kinds(session: AsyncSession) -> list[str]:
    rows = await session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id))
    return list(rows.all())


async def outbox_of(session: AsyncSession, kind: str) -> list[OutboxMessage]:
    rows = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    )
    return list(rows.all())


async def audit_of(session: AsyncSession, action: str) -> list[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    )
    return list(rows.all())
