from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.models import (
    BillingPeriod,
    InvoiceStatus,
    SubscriptionStatus,
    TransactionReason,
)

# 10 million roubles per period: far above any real tariff, far below BIGINT.
MAX_TARIFF_PRICE = 10_000_000_00

# strict: JSON `true` or "100" are not speeds or prices.
Speed = Annotated[int, Field(strict=True, ge=1, le=100_000, description="Mbit/s")]
Price = Annotated[
    int, Field(strict=True, ge=0, le=MAX_TARIFF_PRICE, description="minor units per period")
]
Currency = Annotated[str, Field(pattern="^[A-Z]{3}$")]
TariffName = Annotated[str, Field(min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BalanceOut(BaseModel):
    amount: int = Field(description="minor units (kopecks)")
    currency: str
    display: str = Field(description='major units with two decimals, e.g. "350.00"')
    days_left: int | None = Field(
        description="whole days the balance covers at the active tariff; null without one"
    )


class TransactionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    reason: TransactionReason
    description: str | None
    amount: int
    currency: str
    balance_after: int
    created_at: datetime


class TransactionPage(BaseModel):
    items: list[TransactionOut]
    next_before_id: int | None = Field(
        description="pass as `before_id` for the next (older) page; null on the last page"
    )


class SubscriptionOut(BaseModel):
    id: int
    status: SubscriptionStatus
    tariff_id: int
    tariff_name: str
    speed_down_mbps: int
    speed_up_mbps: int
    price: int
    currency: str
    billing_period: BillingPeriod
    started_on: date
    period_start: date
    period_end: date


class TariffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    speed_down_mbps: int
    speed_up_mbps: int
    price: int
    currency: str
    billing_period: BillingPeriod
    is_active: bool


class TariffIn(Strict):
    name: TariffName
    description: Description | None = None
    speed_down_mbps: Speed
    speed_up_mbps: Speed
    price: Price
    currency: Currency | None = Field(default=None, description="defaults to the provider's")
    billing_period: BillingPeriod = BillingPeriod.monthly


class TariffPatch(Strict):
    name: TariffName | None = None
    description: Description | None = None
    speed_down_mbps: Speed | None = None
    speed_up_mbps: Speed | None = None
    price: Price | None = None
    currency: Currency | None = None
    billing_period: BillingPeriod | None = None
    is_active: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> TariffPatch:
        for name in self.model_fields_set - {"description"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    customer_id: int
    amount: int
    paid_amount: int = Field(description="credits allocated to this invoice so far")
    currency: str
    status: InvoiceStatus
    period_start: date | None
    period_end: date | None
    issued_on: date
    due_date: date
    paid_at: datetime | None
    created_at: datetime


class InvoicePage(BaseModel):
    items: list[InvoiceOut]
    next_before_id: int | None
