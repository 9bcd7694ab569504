from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Account, Customer


async def contract_number_taken(session: AsyncSession, number: str) -> bool:
    found = await session.scalar(select(Customer.id).where(Customer.contract_number == number))
    return found is not None


async def customer_by_id(session: AsyncSession, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def customer_by_user(session: AsyncSession, user_id: int) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.user_id == user_id))


async def account_for_customer(session: AsyncSession, customer_id: int) -> Account | None:
    return await session.scalar(select(Account).where(Account.customer_id == customer_id))
