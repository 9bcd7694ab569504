from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.customers import repository
from backend.errors import Conflict
from backend.models import Account, Customer


class ContractNumberTaken(Conflict):
    code = "contract_number_taken"
    detail = "this contract number is already in use"


async def new_contract_number(session: AsyncSession, prefix: str = "W") -> str:
    for _ in range(10):
        number = f"{prefix}-{secrets.randbelow(10**7):07d}"
        if not await repository.contract_number_taken(session, number):
            return number
    raise Conflict("could not allocate a contract number")


async def create_customer(
    session: AsyncSession,
    *,
    full_name: str,
    actor: Actor | None,
    contract_number: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    locale: str = "ru",
    user_id: int | None = None,
    address: dict[str, Any] | None = None,
    network_area: str | None = None,
    network_node: str | None = None,
    currency: str = "RUB",
) -> Customer:
    if contract_number is None:
        contract_number = await new_contract_number(session)
    elif await repository.contract_number_taken(session, contract_number):
        raise ContractNumberTaken()
    customer = Customer(
        contract_number=contract_number,
        full_name=full_name,
        email=email,
        phone=phone,
        locale=locale,
        user_id=user_id,
        address=address or {},
        network_area=network_area,
        network_node=network_node,
    )
    session.add(customer)
    await session.flush()
    session.add(Account(customer_id=customer.id, currency=currency, balance=0))
    await session.flush()
    await audit.record(
        session, "customer.create", actor, "customer", customer.id, contract=contract_number
    )
    return customer
