from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from backend.auth.errors import AlreadyRegistered
from backend.billing import service as billing
from backend.billing.schemas import TransactionPage
from backend.customers import service
from backend.customers.errors import ContractNumberTaken, CustomerNotFound, DeviceNotFound
from backend.customers.schemas import (
    CustomerCreateIn,
    CustomerDetail,
    CustomerPage,
    DeviceIn,
    DeviceOut,
    DeviceToken,
    NotificationPreferences,
    ProfileOut,
    ProfileUpdateIn,
    StaffCustomerUpdateIn,
)
from backend.deps import (
    CurrentCustomer,
    CurrentStaff,
    ResourcesDep,
    SessionDep,
    SettingsDep,
    actor_of,
)
from backend.errors import ValidationFailed, refusals
from backend.params import CursorQuery, IdPath

router = APIRouter(tags=["customers"])

CustomerId = IdPath


def _own_id(principal: CurrentCustomer) -> int:
    assert principal.customer_id is not None  # guaranteed by CurrentCustomer
    return principal.customer_id


# --- self-service ---------------------------------------------------------------------------


@router.get("/me")
async def get_profile(principal: CurrentCustomer, session: SessionDep) -> ProfileOut:
    """The signed-in customer's profile."""
    return service.profile(await service.get_customer(session, _own_id(principal)))


@router.patch("/me")
async def update_profile(
    data: ProfileUpdateIn, principal: CurrentCustomer, session: SessionDep
) -> ProfileOut:
    """Change contact phone and email, language and address parts. The sign-in login does not
    change."""
    customer = await service.update_customer(session, _own_id(principal), data, actor_of(principal))
    return service.profile(customer)


@router.get("/me/notification-preferences")
async def get_notification_preferences(
    principal: CurrentCustomer, session: SessionDep
) -> NotificationPreferences:
    customer = await service.get_customer(session, _own_id(principal))
    return service.notification_preferences(customer)


@router.put("/me/notification-preferences")
async def put_notification_preferences(
    data: NotificationPreferences, principal: CurrentCustomer, session: SessionDep
) -> NotificationPreferences:
    """Replace all four switches (billing, outages, tickets, marketing)."""
    return await service.set_notification_preferences(
        session, _own_id(principal), data, actor_of(principal)
    )


@router.get("/me/devices")
async def list_devices(principal: CurrentCustomer, session: SessionDep) -> list[DeviceOut]:
    """Push devices registered for the customer, newest first."""
    devices = await service.list_devices(session, _own_id(principal))
    return [service.device_out(d) for d in devices]


@router.post("/me/devices", status_code=status.HTTP_201_CREATED)
async def register_device(
    data: DeviceIn, principal: CurrentCustomer, session: SessionDep, response: Response
) -> DeviceOut:
    """Register the app's push token (201), or refresh it (200). A token registered by another
    customer moves to this one."""
    identity, is_new = await service.register_device(
        session, _own_id(principal), data, actor_of(principal)
    )
    if not is_new:
        response.status_code = status.HTTP_200_OK
    return service.device_out(identity)


@router.delete(
    "/me/devices/{token}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=refusals(DeviceNotFound),
)
async def remove_device(
    token: Annotated[DeviceToken, Path()], principal: CurrentCustomer, session: SessionDep
) -> None:
    """Unregister one of the customer's own push tokens (sign-out on the device)."""
    await service.remove_device(session, _own_id(principal), token, actor_of(principal))


# --- staff ----------------------------------------------------------------------------------


@router.get("/customers")
async def search_customers(
    principal: CurrentStaff,
    session: SessionDep,
    q: Annotated[
        str | None,
        Query(max_length=100, description="contract number, phone, email or part of the name"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> CustomerPage:
    return await service.search(session, q, limit=limit, offset=offset)


@router.post(
    "/customers",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(ContractNumberTaken, AlreadyRegistered, ValidationFailed),
)
async def create_customer(
    data: CustomerCreateIn, principal: CurrentStaff, session: SessionDep, res: ResourcesDep
) -> CustomerDetail:
    """Create a customer with an account; with `password`, also a sign-in for the customer."""
    customer = await service.create_by_staff(session, res, data, actor_of(principal))
    return await service.detail(session, res.settings, customer.id)


@router.get("/customers/{customer_id}", responses=refusals(CustomerNotFound))
async def get_customer(
    customer_id: CustomerId, principal: CurrentStaff, session: SessionDep, settings: SettingsDep
) -> CustomerDetail:
    """Profile, balance, subscription, open tickets and pending invoices."""
    return await service.detail(session, settings, customer_id)


@router.patch("/customers/{customer_id}", responses=refusals(CustomerNotFound))
async def update_customer(
    customer_id: CustomerId,
    data: StaffCustomerUpdateIn,
    principal: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
) -> CustomerDetail:
    await service.update_customer(session, customer_id, data, actor_of(principal))
    return await service.detail(session, settings, customer_id)


@router.get("/customers/{customer_id}/transactions", responses=refusals(CustomerNotFound))
async def customer_transactions(
    customer_id: CustomerId,
    principal: CurrentStaff,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before_id: CursorQuery = None,
) -> TransactionPage:
    """The customer's ledger, newest first."""
    await service.get_customer(session, customer_id)
    return await billing.transaction_page(session, customer_id, limit=limit, before_id=before_id)
