"""Creating a customer's sign-in (a `User` with the customer role), for self-registration
(auth.service.register) and for staff creating a customer with a password
(customers.service.create_by_staff). Kept apart from auth.service so that the customers
domain can create one without importing the auth service, which imports customers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import passwords, repository
from backend.auth.errors import AlreadyRegistered
from backend.clock import utcnow
from backend.config import Settings
from backend.models import Role, User


async def create_customer_sign_in(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str | None,
    phone: str | None,
    password: str,
) -> User:
    """A new customer sign-in with this (already normalised) e-mail and phone, flushed so it
    has an id. The password must pass the policy and must not contain the e-mail's local part
    or the phone; the e-mail and the phone must not belong to another sign-in."""
    passwords.check_password_strength(
        settings, password, email.split("@")[0] if email else None, phone
    )
    if await repository.user_exists(session, email, phone):
        raise AlreadyRegistered()
    user = User(
        email=email,
        phone=phone,
        password_hash=await passwords.hash_password(password),
        role=Role.customer,
        password_changed_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    return user
