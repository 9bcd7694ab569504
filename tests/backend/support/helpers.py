"""Signed-in people for support tests."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.models import Customer, Role, User
from tests.factories import access_token_for, auth_header, make_customer, make_user


async def customer_with_headers(
    session: AsyncSession, settings: Settings
) -> tuple[Customer, dict[str, str]]:
    user, customer = await make_customer(session)
    assert user is not None
    return customer, auth_header(access_token_for(settings, user, customer_id=customer.id))


async def staff_with_headers(
    session: AsyncSession, settings: Settings, role: Role = Role.agent, mfa: bool = True
) -> tuple[User, dict[str, str]]:
    user = await make_user(session, role=role)
    return user, auth_header(access_token_for(settings, user, mfa=mfa))
