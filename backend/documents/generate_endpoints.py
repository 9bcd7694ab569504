"""Generating documents and on-demand invoices.

Customers act on their own data only (another customer's id or invoice is 404); staff (2FA)
name the customer. Rendering is deterministic: asking again with unchanged data returns the
stored document with 200 instead of a new version with 201."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Self

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.auth.tokens import Principal
from backend.billing.errors import InvoiceNotFound
from backend.billing.schemas import InvoiceOut
from backend.customers.errors import CustomerNotFound
from backend.deps import CurrentUser, SessionDep, SettingsDep, actor_of, customer_scope
from backend.documents import generate
from backend.documents.errors import InvalidPeriod, NothingToInvoice, StorageUnavailable
from backend.documents.schemas import DocumentOut
from backend.errors import ValidationFailed, refusals
from backend.models import DocumentKind
from backend.validation import MAX_ID

router = APIRouter(tags=["documents"])

# Nothing this system bills predates it; older dates are typos.
EARLIEST = date(2000, 1, 1)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: DocumentKind
    period: str | None = Field(
        default=None, max_length=7, description='"YYYY-MM": the month of an act (only for acts)'
    )
    invoice_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="the invoice (only for invoices)"
    )

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        if self.kind is DocumentKind.act:
            if self.period is None:
                raise ValueError("period (YYYY-MM) is required for an act")
            match = _MONTH.fullmatch(self.period)
            if match is None:
                raise ValueError("period must be a month as YYYY-MM")
            if int(match.group(1)) < EARLIEST.year:
                raise ValueError(f"period must not be before {EARLIEST.year}")
        elif self.period is not None:
            raise ValueError("period is only for acts")
        if self.kind is DocumentKind.invoice and self.invoice_id is None:
            raise ValueError("invoice_id is required for an invoice")
        if self.kind is not DocumentKind.invoice and self.invoice_id is not None:
            raise ValueError("invoice_id is only for invoices")
        return self

    def month(self) -> date | None:
        if self.period is None:
            return None
        year, month = self.period.split("-")
        return date(int(year), int(month), 1)


class OnDemandInvoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    period_start: date = Field(ge=EARLIEST, description="first day invoiced")
    period_end: date = Field(
        ge=EARLIEST, description="last day invoiced; at most the end of the current month"
    )
    customer_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="required for staff; customers omit it"
    )

    @model_validator(mode="after")
    def _span(self) -> Self:
        if self.period_start > self.period_end:
            raise ValueError("period_start must not be after period_end")
        if (self.period_end - self.period_start).days + 1 > generate.MAX_INVOICE_DAYS:
            raise ValueError(f"the period must not exceed {generate.MAX_INVOICE_DAYS} days")
        return self


class OnDemandInvoiceOut(InvoiceOut):
    document_id: int = Field(description="the invoice's PDF (GET /documents/{id}/download)")


def _target_customer(principal: Principal, customer_id: int | None) -> int:
    """Whose data: the caller's own for a customer (naming anyone else is 404), the named
    customer for staff."""
    own = customer_scope(principal)
    if own is not None:
        if customer_id not in (None, own):
            raise CustomerNotFound()
        return own
    if customer_id is None:
        raise ValidationFailed("customer_id is required for staff")
    return customer_id


@router.post(
    "/documents/generate",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": DocumentOut, "description": "unchanged: the identical stored document"},
        **refusals(
            CustomerNotFound, InvoiceNotFound, ValidationFailed, InvalidPeriod, StorageUnavailable
        ),
    },
)
async def generate_document(
    data: GenerateIn,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    customer_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="required for staff")
    ] = None,
) -> DocumentOut:
    """Generate a contract, an invoice's PDF (`invoice_id`) or the act of services rendered
    for a month (`period` "YYYY-MM", not after the current month). 201 with a new version;
    200 when the data has not changed since the stored version."""
    target = _target_customer(principal, customer_id)
    generated = await generate.generate_document(
        session,
        settings,
        target,
        data.kind,
        month=data.month(),
        invoice_id=data.invoice_id,
        actor=actor_of(principal),
    )
    if not generated.created:
        response.status_code = status.HTTP_200_OK
    return DocumentOut.model_validate(generated.document)


@router.post(
    "/invoices/on-demand",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": OnDemandInvoiceOut, "description": "the same pending invoice, again"},
        **refusals(
            CustomerNotFound, NothingToInvoice, ValidationFailed, InvalidPeriod, StorageUnavailable
        ),
    },
)
async def create_on_demand_invoice(
    data: OnDemandInvoiceIn,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> OnDemandInvoiceOut:
    """An invoice for the tariff fees of the days from `period_start` to `period_end`
    (inclusive, at most 366 days, ending no later than this month), with its PDF. Asking again
    for the same period while that invoice is unpaid returns it (200)."""
    target = _target_customer(principal, data.customer_id)
    result = await generate.invoice_for_period(
        session, settings, target, data.period_start, data.period_end, actor_of(principal)
    )
    if not result.created:
        response.status_code = status.HTTP_200_OK
    invoice = InvoiceOut.model_validate(result.invoice)
    return OnDemandInvoiceOut(**invoice.model_dump(), document_id=result.document.id)
