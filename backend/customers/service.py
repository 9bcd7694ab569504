from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.auth import sign_ins
from backend.billing import service as billing
from backend.clock import business_today, utcnow
from backend.config import Settings
from backend.customers import repository
from backend.customers.errors import ContractNumberTaken, CustomerNotFound, DeviceNotFound
from backend.customers.schemas import (
    ADDRESS_KEYS,
    AddressOut,
    CustomerCreateIn,
    CustomerDetail,
    CustomerPage,
    CustomerSummary,
    DeviceIn,
    DeviceOut,
    NotificationPreferences,
    ProfileOut,
    ProfileUpdateIn,
    StaffCustomerUpdateIn,
)
from backend.errors import Conflict, ValidationFailed
from backend.models import Account, ChannelIdentity, Customer, Role
from backend.models.customer import default_notification_preferences
from backend.state import Resources
from backend.validation import normalize_email, normalize_phone

# A phone, a tablet, a laptop browser or two: more than this is an app reinstall loop or abuse,
# and every extra token costs a push on every notification.
MAX_DEVICES_PER_CUSTOMER = 10

_PHONE_JUNK = re.compile(r"[\s\-().+]")


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


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await repository.customer_by_id(session, customer_id)
    if customer is None:
        raise CustomerNotFound()
    return customer


# --- profile --------------------------------------------------------------------------------


def notification_preferences(customer: Customer) -> NotificationPreferences:
    stored = customer.notification_preferences or {}
    merged: dict[str, Any] = {
        key: bool(stored.get(key, default))
        for key, default in default_notification_preferences().items()
    }
    channels, quiet = stored.get("channels"), stored.get("quiet_hours")
    merged["channels"] = channels if isinstance(channels, dict) and channels else None
    merged["quiet_hours"] = quiet if isinstance(quiet, str) else None
    try:
        return NotificationPreferences(**merged)
    except ValueError:  # a stored value from an older shape: the switches still hold
        return NotificationPreferences(**{**merged, "channels": None, "quiet_hours": None})


def profile(customer: Customer) -> ProfileOut:
    address = customer.address or {}
    return ProfileOut(
        id=customer.id,
        contract_number=customer.contract_number,
        full_name=customer.full_name,
        address=AddressOut(**{k: address.get(k) for k in ADDRESS_KEYS}),
        phone=customer.phone,
        email=customer.email,
        locale=customer.locale,
        network_area=customer.network_area,
        network_node=customer.network_node,
        notification_preferences=notification_preferences(customer),
    )


def _merge_address(current: dict[str, Any], parts: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in parts.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def update_customer(
    session: AsyncSession,
    customer_id: int,
    data: ProfileUpdateIn | StaffCustomerUpdateIn,
    actor: Actor,
) -> Customer:
    """Contact data only: the sign-in email/phone of the customer's user stay as they are."""
    customer = await get_customer(session, customer_id)
    changes = data.changes()
    if changes.get("email") is not None:
        changes["email"] = normalize_email(str(changes["email"]))
    if "address" in changes:
        changes["address"] = _merge_address(customer.address or {}, changes["address"])
    changed = sorted(k for k, v in changes.items() if getattr(customer, k) != v)
    if not changed:
        return customer
    for key in changed:
        # a new dict for JSON columns: in-place mutation is not tracked
        setattr(customer, key, changes[key])
    await session.flush()
    await audit.record(session, "customer.update", actor, "customer", customer.id, fields=changed)
    return customer


async def set_notification_preferences(
    session: AsyncSession, customer_id: int, prefs: NotificationPreferences, actor: Actor
) -> NotificationPreferences:
    """The switches are replaced; `channels` and `quiet_hours` only when the body has them
    (null: back to the provider's default), so an older client's PUT keeps them."""
    customer = await get_customer(session, customer_id)
    stored = dict(customer.notification_preferences or {})
    new: dict[str, Any] = {k: v for k, v in stored.items() if k in ("channels", "quiet_hours")}
    new.update(prefs.model_dump(include=set(default_notification_preferences())))
    for key in ("channels", "quiet_hours"):
        if key in prefs.model_fields_set:
            value = getattr(prefs, key)
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
    if stored != new:
        customer.notification_preferences = new
        await session.flush()
        await audit.record(
            session, "customer.notification_preferences", actor, "customer", customer.id, **new
        )
    return notification_preferences(customer)


# --- push devices ---------------------------------------------------------------------------


def device_out(identity: ChannelIdentity) -> DeviceOut:
    details = identity.details or {}
    return DeviceOut(
        token=identity.external_id,
        platform=details.get("platform"),
        app_version=details.get("app_version"),
        is_reachable=identity.is_reachable,
        registered_at=identity.created_at,
        last_seen_at=identity.last_seen_at,
    )


async def register_device(
    session: AsyncSession, customer_id: int, data: DeviceIn, actor: Actor
) -> tuple[ChannelIdentity, bool]:
    """Register (or refresh) a push token for the customer. A token registered by another
    customer moves here: the device changed hands or accounts, and pushes must follow the
    person signed in on it now. Returns the identity and whether it is new to this customer."""
    previous_owner = await repository.device_owner(session, data.token)
    identity_id = await repository.upsert_device(
        session,
        customer_id=customer_id,
        token=data.token,
        details={"platform": data.platform, "app_version": data.app_version},
        now=utcnow(),
    )
    await repository.prune_devices(session, customer_id, MAX_DEVICES_PER_CUSTOMER)
    identity = await repository.device_by_id(session, identity_id)
    assert identity is not None
    is_new = previous_owner != customer_id
    if is_new:
        # App starts re-register the same token; only a new or moved device is an event.
        await audit.record(
            session,
            "customer.device_register",
            actor,
            "channel_identity",
            identity.id,
            platform=data.platform,
            moved_from_customer_id=previous_owner,
        )
    return identity, is_new


async def list_devices(session: AsyncSession, customer_id: int) -> list[ChannelIdentity]:
    return await repository.devices_of(session, customer_id)


async def remove_device(session: AsyncSession, customer_id: int, token: str, actor: Actor) -> None:
    identity_id = await repository.delete_device(session, customer_id, token)
    if identity_id is None:
        raise DeviceNotFound()
    await audit.record(session, "customer.device_remove", actor, "channel_identity", identity_id)


# --- staff ----------------------------------------------------------------------------------


def phone_search_terms(q: str) -> tuple[str | None, str | None]:
    """A query made of digits and phone punctuation also matches phones as digits
    ("900 123" finds +79001234567) and, when it is a whole number, in normalised form."""
    digits = _PHONE_JUNK.sub("", q)
    if len(digits) < 3 or not digits.isdigit():
        return None, None
    try:
        return digits, normalize_phone(q)
    except ValueError:
        return digits, None


async def search(session: AsyncSession, q: str | None, *, limit: int, offset: int) -> CustomerPage:
    q = (q or "").strip() or None
    digits, phone = phone_search_terms(q) if q else (None, None)
    rows, total = await repository.search_customers(
        session, q, phone_digits=digits, phone=phone, limit=limit, offset=offset
    )
    return CustomerPage(
        items=[
            CustomerSummary(
                id=c.id,
                contract_number=c.contract_number,
                full_name=c.full_name,
                phone=c.phone,
                email=c.email,
                network_area=c.network_area,
                network_node=c.network_node,
                balance=balance,
                currency=currency,
            )
            for c, balance, currency in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


async def create_by_staff(
    session: AsyncSession, res: Resources, data: CustomerCreateIn, actor: Actor
) -> Customer:
    """Create a customer and, with `password`, a customer sign-in with the same email/phone."""
    email = normalize_email(str(data.email)) if data.email else None
    if data.contract_number is not None and await repository.contract_number_taken(
        session, data.contract_number
    ):
        raise ContractNumberTaken()
    user_id = None
    if data.password is not None:
        if email is None and data.phone is None:
            raise ValidationFailed("a sign-in needs an email or a phone")
        user = await sign_ins.create_customer_sign_in(
            session, res.settings, email=email, phone=data.phone, password=data.password
        )
        user_id = user.id
        await audit.record(session, "user.create", actor, "user", user.id, role=Role.customer.value)
    address = data.address.changes() if data.address else {}
    return await create_customer(
        session,
        full_name=data.full_name,
        actor=actor,
        contract_number=data.contract_number,
        email=email,
        phone=data.phone,
        locale=data.locale,
        user_id=user_id,
        address={k: v for k, v in address.items() if v is not None},
        network_area=data.network_area,
        network_node=data.network_node,
        currency=res.settings.currency,
    )


async def detail(session: AsyncSession, settings: Settings, customer_id: int) -> CustomerDetail:
    customer = await get_customer(session, customer_id)
    open_tickets, pending_invoices = await repository.open_counts(session, customer.id)
    return CustomerDetail(
        **profile(customer).model_dump(),
        user_id=customer.user_id,
        created_at=customer.created_at,
        balance=await billing.balance(session, customer.id, business_today(settings)),
        subscription=await billing.subscription(session, customer.id),
        open_tickets=open_tickets,
        pending_invoices=pending_invoices,
    )
