"""The ledger invariant under real PostgreSQL concurrency: balance == sum(transactions), every
balance_after is the running sum in id order, and a reference posts at most once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from backend.billing import ledger
from backend.db import unit_of_work
from backend.errors import ValidationFailed
from backend.models import Account, Transaction, TransactionReason
from tests.factories import make_customer

CONCURRENT_POSTS = 50


def _amount(i: int) -> int:
    # credits and debits interleaved, all different, so a lost update changes the total
    return (i + 1) * 1000 + i if i % 3 else -((i + 1) * 370 + i)


async def _post(resources, customer_id: int, amount: int, **kwargs):
    async with unit_of_work(resources.sessionmaker) as s:
        return await ledger.post(
            s,
            customer_id=customer_id,
            amount=amount,
            reason=TransactionReason.adjustment,
            **kwargs,
        )


async def _account_state(resources, customer_id: int):
    async with resources.sessionmaker() as s:
        account = await s.scalar(select(Account).where(Account.customer_id == customer_id))
        assert account is not None
        txns = list(
            (
                await s.scalars(
                    select(Transaction)
                    .where(Transaction.account_id == account.id)
                    .order_by(Transaction.id)
                )
            ).all()
        )
        total = await s.scalar(
            select(func.coalesce(func.sum(Transaction.amount), 0)).where(
                Transaction.account_id == account.id
            )
        )
    return account.balance, int(total or 0), txns


async def test_concurrent_posts_keep_the_invariant(resources, session):
    _, customer = await make_customer(session)
    _, bystander = await make_customer(session, balance=12345)
    await session.commit()
    amounts = [_amount(i) for i in range(CONCURRENT_POSTS)]
    assert any(a < 0 for a in amounts) and any(a > 0 for a in amounts)

    results = await asyncio.gather(
        *(
            _post(resources, customer.id, amount, reference_kind="test", reference=f"c:{i}")
            if i % 2
            else _post(resources, customer.id, amount)
            for i, amount in enumerate(amounts)
        )
    )

    assert all(created for _, created in results)
    balance, total, txns = await _account_state(resources, customer.id)
    assert len(txns) == CONCURRENT_POSTS
    assert balance == total == sum(amounts)
    running = 0
    for txn in txns:
        running += txn.amount
        assert txn.balance_after == running, txn.id
    assert sorted(t.amount for t in txns) == sorted(amounts)
    # the other account was not touched
    other_balance, other_total, _ = await _account_state(resources, bystander.id)
    assert other_balance == other_total == 12345


async def test_same_reference_twice_posts_once(resources, session):
    _, customer = await make_customer(session)
    await session.commit()

    first, created = await _post(
        resources, customer.id, 5000, reference_kind="payment", reference="p-1"
    )
    again, created_again = await _post(
        resources, customer.id, 5000, reference_kind="payment", reference="p-1"
    )

    assert created is True
    assert created_again is False
    assert again.id == first.id
    balance, total, txns = await _account_state(resources, customer.id)
    assert balance == total == 5000
    assert len(txns) == 1


async def test_same_reference_concurrently_posts_once(resources, session):
    _, customer = await make_customer(session)
    await session.commit()

    results = await asyncio.gather(
        *(
            _post(resources, customer.id, 7000, reference_kind="payment", reference="p-race")
            for _ in range(10)
        )
    )

    assert sum(1 for _, created in results if created) == 1
    assert len({txn.id for txn, _ in results}) == 1
    balance, total, txns = await _account_state(resources, customer.id)
    assert balance == total == 7000
    assert len(txns) == 1


async def test_reference_reused_with_other_terms_is_refused(resources, session):
    _, customer = await make_customer(session)
    await session.commit()
    await _post(resources, customer.id, 5000, reference_kind="payment", reference="p-2")

    with pytest.raises(ledger.DuplicateReference):
        await _post(resources, customer.id, 6000, reference_kind="payment", reference="p-2")

    balance, total, _ = await _account_state(resources, customer.id)
    assert balance == total == 5000


@pytest.mark.parametrize(
    "amount",
    [0, True, False, 1.0, 10.5, ledger.MAX_ABS_AMOUNT + 1, -(ledger.MAX_ABS_AMOUNT + 1), 10**30],
)
async def test_bad_amounts_are_refused(resources, session, amount):
    _, customer = await make_customer(session)
    await session.commit()

    with pytest.raises(ValidationFailed):
        await _post(resources, customer.id, amount)

    balance, total, txns = await _account_state(resources, customer.id)
    assert balance == total == 0
    assert txns == []


async def test_largest_allowed_amount_is_accepted(resources, session):
    _, customer = await make_customer(session)
    await session.commit()

    await _post(resources, customer.id, ledger.MAX_ABS_AMOUNT)
    await _post(resources, customer.id, -ledger.MAX_ABS_AMOUNT)

    balance, total, txns = await _account_state(resources, customer.id)
    assert balance == total == 0
    assert [t.balance_after for t in txns] == [ledger.MAX_ABS_AMOUNT, 0]
