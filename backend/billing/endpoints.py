from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from backend.billing import service
from backend.billing.errors import InvoiceNotFound, NoSubscription, TariffNameTaken, TariffNotFound
from backend.billing.schemas import (
    BalanceOut,
    InvoiceOut,
    InvoicePage,
    SubscriptionOut,
    TariffIn,
    TariffOut,
    TariffPatch,
    TransactionPage,
)
from backend.clock import business_today
from backend.customers.errors import CustomerNotFound
from backend.deps import (
    CurrentAdmin,
    CurrentCustomer,
    CurrentCustomerOrStaff,
    CurrentStaff,
    ResourcesDep,
    SessionDep,
    SettingsDep,
    actor_of,
)
from backend.errors import Forbidden, ValidationFailed, refusals
from backend.models import InvoiceStatus
from backend.params import CursorQuery, IdPath, IdQuery

router = APIRouter(tags=["billing"])

Limit = Annotated[int, Query(ge=1, le=100)]
BeforeId = CursorQuery
TariffId = IdPath


CustomerOrStaff = CurrentCustomerOrStaff


# --- the customer's own money ---------------------------------------------------------------


@router.get("/billing/balance", response_model=BalanceOut)
async def get_balance(principal: CurrentCustomer, resources: ResourcesDep) -> Response:
    """The balance and how many days it lasts at the active tariff (`days_left` is null without
    an active subscription). One database query, outside any transaction."""
    assert principal.customer_id is not None
    out = await service.balance_fast(
        resources.engine, principal.customer_id, business_today(resources.settings)
    )
    # Already a validated model: serialise it once instead of validating it again.
    return Response(out.model_dump_json(), media_type="application/json")


@router.get("/billing/transactions")
async def list_transactions(
    principal: CurrentCustomer, session: SessionDep, limit: Limit = 20, before_id: BeforeId = None
) -> TransactionPage:
    """Ledger history, newest first."""
    assert principal.customer_id is not None
    return await service.transaction_page(
        session, principal.customer_id, limit=limit, before_id=before_id
    )


@router.get("/billing/subscription", responses=refusals(NoSubscription))
async def get_subscription(principal: CurrentCustomer, session: SessionDep) -> SubscriptionOut:
    """The current (not ended) subscription with its tariff."""
    assert principal.customer_id is not None
    return await service.require_subscription(session, principal.customer_id)


# --- tariffs --------------------------------------------------------------------------------


@router.get("/tariffs")
async def list_tariffs(session: SessionDep) -> list[TariffOut]:
    """Public: tariffs on sale, cheapest first."""
    tariffs = await service.list_tariffs(session)
    return [TariffOut.model_validate(t) for t in tariffs]


@router.get("/admin/tariffs")
async def list_all_tariffs(principal: CurrentStaff, session: SessionDep) -> list[TariffOut]:
    """Every tariff, including withdrawn ones."""
    tariffs = await service.list_tariffs(session, include_inactive=True)
    return [TariffOut.model_validate(t) for t in tariffs]


@router.post(
    "/tariffs",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(TariffNameTaken, ValidationFailed),
)
async def create_tariff(
    data: TariffIn, principal: CurrentAdmin, session: SessionDep, settings: SettingsDep
) -> TariffOut:
    tariff = await service.create_tariff(session, settings, data, actor_of(principal))
    return TariffOut.model_validate(tariff)


@router.patch(
    "/tariffs/{tariff_id}", responses=refusals(TariffNotFound, TariffNameTaken, ValidationFailed)
)
async def update_tariff(
    tariff_id: TariffId,
    data: TariffPatch,
    principal: CurrentAdmin,
    session: SessionDep,
    settings: SettingsDep,
) -> TariffOut:
    """Change a tariff; existing subscriptions see the new terms."""
    tariff = await service.update_tariff(session, settings, tariff_id, data, actor_of(principal))
    return TariffOut.model_validate(tariff)


@router.post("/tariffs/{tariff_id}/deactivate", responses=refusals(TariffNotFound))
async def deactivate_tariff(
    tariff_id: TariffId, principal: CurrentAdmin, session: SessionDep
) -> TariffOut:
    """Withdraw a tariff from sale (idempotent); current subscribers keep it."""
    tariff = await service.deactivate_tariff(session, tariff_id, actor_of(principal))
    return TariffOut.model_validate(tariff)


# --- invoices -------------------------------------------------------------------------------


@router.get("/invoices", responses=refusals(Forbidden, CustomerNotFound, ValidationFailed))
async def list_invoices(
    principal: CustomerOrStaff,
    session: SessionDep,
    customer_id: Annotated[IdQuery, Query(description="required for staff")] = None,
    status: InvoiceStatus | None = None,
    limit: Limit = 50,
    before_id: BeforeId = None,
) -> InvoicePage:
    """A customer's invoices, newest first. Customers see only their own."""
    return await service.invoice_page(
        session,
        principal,
        customer_id=customer_id,
        status=status,
        limit=limit,
        before_id=before_id,
    )


@router.get("/invoices/{invoice_id}", responses=refusals(InvoiceNotFound))
async def get_invoice(
    invoice_id: IdPath, principal: CustomerOrStaff, session: SessionDep
) -> InvoiceOut:
    invoice = await service.get_invoice(session, principal, invoice_id)
    return InvoiceOut.model_validate(invoice)
