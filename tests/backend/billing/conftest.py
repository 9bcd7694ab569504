from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from backend.models import Customer, Role, User
from tests.factories import access_token_for, auth_header, make_customer, make_user

Headers = dict[str, str]


@pytest.fixture
def as_customer(session, settings) -> Callable[..., Awaitable[tuple[Customer, Headers]]]:
    """Create (and commit) a customer with a sign-in; returns it and its auth headers."""

    async def factory(**overrides: Any) -> tuple[Customer, Headers]:
        user, customer = await make_customer(session, **overrides)
        await session.commit()
        assert user is not None
        return customer, auth_header(access_token_for(settings, user, customer_id=customer.id))

    return factory


@pytest.fixture
def as_staff(session, settings) -> Callable[..., Awaitable[tuple[User, Headers]]]:
    """Create (and commit) an agent or admin; `mfa=False` mints a token without 2FA."""

    async def factory(role: Role = Role.agent, mfa: bool | None = None) -> tuple[User, Headers]:
        user = await make_user(session, role=role)
        await session.commit()
        return user, auth_header(access_token_for(settings, user, mfa=mfa))

    return factory
