"""Factories with keyword overrides. They flush; the caller commits."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import passwords, totp
from backend.auth.tokens import encode_token
from backend.billing import ledger
from backend.config import Settings
from backend.customers import service as customers
from backend.models import (
    BillingPeriod,
    Customer,
    Document,
    DocumentKind,
    Invoice,
    InvoiceStatus,
    Role,
    Subscription,
    SubscriptionStatus,
    Tariff,
    Ticket,
    TransactionReason,
    User,
)

_seq = itertools.count(1)
DEFAULT_PASSWORD = "correct-horse-battery"

# Argon2 is deliberately slow; hash the shared test password once.
_hash_cache: dict[str, str] = {}


async def _hash(password: str) -> str:
    if password not in _hash_cache:
        _hash_cache[password] = await passwords.hash_password(password)
    return _hash_cache[password]


async def make_user(
    session: AsyncSession,
    *,
    role: Role = Role.customer,
    email: str | None = None,
    phone: str | None = None,
    password: str = DEFAULT_PASSWORD,
    totp_secret: str | None = None,
    settings: Settings | None = None,
    is_active: bool = True,
) -> User:
    n = next(_seq)
    user = User(
        email=email or f"user{n}@example.com",
        phone=phone,
        password_hash=await _hash(password),
        role=role,
        is_active=is_active,
    )
    if totp_secret is not None:
        assert settings is not None, "settings are needed to encrypt the TOTP secret"
        user.totp_secret_encrypted = totp.encrypt_secret(settings, totp_secret)
        user.totp_enabled = True
    session.add(user)
    await session.flush()
    return user


async def make_customer(
    session: AsyncSession,
    *,
    with_user: bool = True,
    email: str | None = None,
    phone: str | None = None,
    password: str = DEFAULT_PASSWORD,
    balance: int = 0,
    full_name: str | None = None,
    **overrides: Any,
) -> tuple[User | None, Customer]:
    n = next(_seq)
    email = email or f"customer{n}@example.com"
    user = (
        await make_user(session, email=email, phone=phone, password=password) if with_user else None
    )
    customer = await customers.create_customer(
        session,
        full_name=full_name or f"Петров Пётр {n}",
        contract_number=overrides.pop("contract_number", f"T-{n:05d}"),
        email=email,
        phone=phone,
        user_id=user.id if user else None,
        actor=None,
        **overrides,
    )
    if balance:
        await ledger.post(
            session,
            customer_id=customer.id,
            amount=balance,
            reason=TransactionReason.opening_balance,
            reference_kind="test",
            reference=f"opening:{customer.id}",
        )
    return user, customer


async def make_tariff(session: AsyncSession, **overrides: Any) -> Tariff:
    n = next(_seq)
    values: dict[str, Any] = {
        "name": f"Тариф {n}",
        "speed_down_mbps": 100,
        "speed_up_mbps": 50,
        "price": 50000,
        "currency": "RUB",
        "billing_period": BillingPeriod.monthly,
    }
    values.update(overrides)
    tariff = Tariff(**values)
    session.add(tariff)
    await session.flush()
    return tariff


async def make_subscription(
    session: AsyncSession, customer: Customer, tariff: Tariff, **overrides: Any
) -> Subscription:
    today = date.today()
    values: dict[str, Any] = {
        "customer_id": customer.id,
        "tariff_id": tariff.id,
        "status": SubscriptionStatus.active,
        "started_on": today - timedelta(days=30),
        "period_start": today.replace(day=1),
        "period_end": (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        - timedelta(days=1),
    }
    values.update(overrides)
    sub = Subscription(**values)
    session.add(sub)
    await session.flush()
    return sub


async def make_invoice(session: AsyncSession, customer: Customer, **overrides: Any) -> Invoice:
    n = next(_seq)
    today = date.today()
    values: dict[str, Any] = {
        "number": f"INV-T-{n:06d}",
        "customer_id": customer.id,
        "amount": 70000,
        "currency": "RUB",
        "status": InvoiceStatus.pending,
        "issued_on": today,
        "due_date": today + timedelta(days=10),
    }
    values.update(overrides)
    invoice = Invoice(**values)
    session.add(invoice)
    await session.flush()
    return invoice


async def make_ticket(session: AsyncSession, customer: Customer | None, **overrides: Any) -> Ticket:
    values: dict[str, Any] = {
        "customer_id": customer.id if customer else None,
        "subject": "Нет интернета",
        "description": "Со вчерашнего вечера не работает интернет",
    }
    values.update(overrides)
    ticket = Ticket(**values)
    session.add(ticket)
    await session.flush()
    return ticket


async def make_document(
    session: AsyncSession,
    customer: Customer,
    *,
    content: bytes = b"%PDF-1.4 test",
    **overrides: Any,
) -> Document:
    """A document row whose file is written under settings.documents_dir by the caller if needed."""
    import hashlib

    n = next(_seq)
    values: dict[str, Any] = {
        "customer_id": customer.id,
        "kind": DocumentKind.contract,
        "title": "Договор",
        "period": f"p{n}",
        "storage_key": f"test/{customer.id}/{n}.pdf",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    values.update(overrides)
    doc = Document(**values)
    session.add(doc)
    await session.flush()
    return doc


def access_token_for(
    settings: Settings,
    user: User,
    *,
    customer_id: int | None = None,
    mfa: bool | None = None,
    sid: str | None = None,
) -> str:
    """Mint an access token directly, for tests that are not about signing in. Staff get the
    second factor by default."""
    from datetime import timedelta as _td

    with_mfa = mfa if mfa is not None else user.role in (Role.agent, Role.admin)
    return encode_token(
        settings,
        typ="access",
        user_id=user.id,
        role=user.role,
        customer_id=customer_id,
        sid=sid or f"test-{user.id}-{next(_seq)}",
        amr=("pwd", "otp") if with_mfa else ("pwd",),
        lifetime=_td(minutes=settings.access_token_minutes),
    )


def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def signed_in_customer(
    session: AsyncSession, settings: Settings, **overrides: Any
) -> tuple[Customer, dict[str, str]]:
    """A customer with a sign-in and the headers of its access token. The one way tests get a
    signed-in customer: the `as_customer` fixture wraps it (and commits); call it directly only
    where that fixture cannot serve, e.g. in a session of another database."""
    user, customer = await make_customer(session, **overrides)
    assert user is not None
    return customer, auth_header(access_token_for(settings, user, customer_id=customer.id))


async def signed_in_user(
    session: AsyncSession, settings: Settings, role: Role, *, mfa: bool | None = None
) -> tuple[User, dict[str, str]]:
    """A user of `role` with no customer behind it and the headers of its access token (staff
    with the second factor unless `mfa=False`). The `as_staff` fixture wraps it (and commits)."""
    user = await make_user(session, role=role)
    return user, auth_header(access_token_for(settings, user, mfa=mfa))


def totp_code(secret: str, offset_steps: int = 0) -> str:
    import time

    return pyotp.TOTP(secret).at(time.time() + offset_steps * 30)
