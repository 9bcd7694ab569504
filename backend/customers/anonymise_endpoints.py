"""Admin: erase a customer's personal data (152-FZ), keeping money, documents and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from backend.clock import business_today
from backend.customers import anonymise
from backend.customers.errors import (
    CustomerAlreadyAnonymised,
    CustomerNotFound,
    CustomerNotSettled,
)
from backend.deps import ConversationsDep, CurrentAdmin, ResourcesDep, SessionDep
from backend.errors import refusals

router = APIRouter(prefix="/admin/customers", tags=["admin"])

CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class AnonymisedOut(BaseModel):
    customer_id: int
    contract_number: str
    user_id: int | None
    conversations_deleted: int
    devices_removed: int
    tickets_redacted: int
    anonymised_at: datetime


@router.post(
    "/{customer_id}/anonymise",
    responses=refusals(CustomerNotFound, CustomerNotSettled, CustomerAlreadyAnonymised),
)
async def anonymise_customer(
    customer_id: CustomerId,
    principal: CurrentAdmin,
    session: SessionDep,
    res: ResourcesDep,
    conversations: ConversationsDep,
) -> AnonymisedOut:
    """Admins only. Replace the customer's name, contacts and address, deactivate and erase
    their sign-in, unlink their Telegram and devices, delete their conversations and redact
    their tickets. The contract number, account, ledger, invoices, payments, documents and the
    audit log stay. Refused (409 `customer_not_settled`) while the balance is not zero or an
    invoice, payment, promised payment, subscription or ticket is open; its `open` lists them."""
    outcome = await anonymise.anonymise_customer(
        session,
        res,
        principal,
        customer_id,
        business_today(res.settings),
        conversations=conversations,
    )
    return AnonymisedOut(**outcome)
