"""Pydantic in/out of the customer's billing actions: tariff change, promised payment,
voluntary suspension, and staff money adjustments. Money is integer minor units."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.models import BillingPeriod, PromisedPaymentStatus, SuspensionStatus

# 1,000,000.00 in one staff adjustment: a larger correction is a data migration, not a click.
MAX_ADJUSTMENT = 100_000_000

TariffChangeKind = Literal["upgrade", "downgrade", "same_price"]
Effective = Literal["now", "next_period"]
Money = Annotated[int, Field(description="minor units (kopecks)")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- tariff change --------------------------------------------------------------------------


class TariffChangeIn(Strict):
    tariff_id: int = Field(strict=True, ge=1, le=2**62)
    effective: Effective | None = Field(
        default=None,
        description='"now" or "next_period"; default: now for an upgrade, the next period '
        "otherwise. Only an upgrade may choose.",
    )


class TariffBrief(BaseModel):
    id: int
    name: str
    price: Money
    billing_period: BillingPeriod
    currency: str
    monthly_price: Money = Field(description="the price of a month (this month's length)")


class TariffChangeQuote(BaseModel):
    subscription_id: int
    current: TariffBrief
    target: TariffBrief
    kind: TariffChangeKind
    effective: Effective
    effective_on: date
    next_period_on: date = Field(description="the first day of the next period")
    can_choose: bool = Field(description="an upgrade may also wait for the next period")
    days_remaining: int = Field(description="days from today to the end of the month, inclusive")
    proration: Money = Field(
        description="extra cost of the rest of this month at the new tariff (0 when scheduled)"
    )
    charge_now: Money = Field(
        description="debited at confirmation for the proration; in daily-share charging the "
        "rest follows with the daily charges"
    )
    fee: Money = Field(description="the change fee: at confirmation, or on the day it applies")
    total_now: Money = Field(description="everything debited at confirmation")
    new_monthly_price: Money
    currency: str


class TariffChangeResult(BaseModel):
    status: Literal["changed", "scheduled"]
    quote: TariffChangeQuote
    tariff_id: int
    scheduled_tariff_id: int | None
    scheduled_change_on: date | None
    charged: Money = Field(description="debited now (proration and fee)")


class ScheduledChangeCancelled(BaseModel):
    subscription_id: int
    cancelled_tariff_id: int
    was_due_on: date


# --- promised payment -----------------------------------------------------------------------


class PromisedPaymentTerms(BaseModel):
    allowed: bool
    reason: str | None = Field(default=None, description="refusal code when not allowed")
    detail: str | None = Field(default=None, description="the refusal in English")
    amount: Money | None = None
    fee: Money | None = None
    total_to_repay: Money | None = Field(default=None, description="amount + fee")
    debt: Money | None = None
    daily_cost: Money | None = None
    term_days: int | None = None
    expires_at: datetime | None = None
    available_from: datetime | None = Field(
        default=None, description="when a refused request becomes possible (pp_too_frequent)"
    )
    amount_to_pay: Money | None = Field(
        default=None, description="a top-up that removes the refusal (debt-related refusals)"
    )
    promised_payment_id: int | None = Field(default=None, description="the active one")
    balance: Money
    currency: str


class PromisedPaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    amount: Money
    fee: Money
    status: PromisedPaymentStatus
    expires_at: datetime
    created_at: datetime


class PromisedPaymentTaken(BaseModel):
    promised_payment: PromisedPaymentOut
    balance: Money
    restored_subscriptions: list[int] = Field(
        description="subscriptions unblocked by the credit (internet back within minutes)"
    )


# --- suspension -----------------------------------------------------------------------------


class SuspensionIn(Strict):
    start_on: date
    end_on: date = Field(description="the last day of the pause, inclusive")

    @model_validator(mode="after")
    def _ordered(self) -> SuspensionIn:
        if self.end_on < self.start_on:
            raise ValueError("end_on must not be before start_on")
        return self


class SuspensionQuote(BaseModel):
    start_on: date
    end_on: date
    resume_on: date = Field(description="the first day of service after the pause")
    days: int
    free_days: int
    paid_days: int
    daily_fee: Money
    fee_total: Money
    free_days_left: int = Field(description="free days left this year before this pause")
    starts_now: bool
    currency: str


class SuspensionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subscription_id: int
    start_on: date
    end_on: date
    status: SuspensionStatus
    daily_fee: Money
    free_days: int
    resumed_at: datetime | None
    created_at: datetime


class SuspensionList(BaseModel):
    items: list[SuspensionOut]
    free_days_left: int = Field(description="free pause days left this calendar year")


# --- staff adjustments ----------------------------------------------------------------------


class AdjustmentIn(Strict):
    amount: int = Field(
        strict=True,
        ge=-MAX_ADJUSTMENT,
        le=MAX_ADJUSTMENT,
        description="signed minor units: positive credits the customer, negative debits",
    )
    reason: str = Field(min_length=3, max_length=500)

    @field_validator("amount")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("amount must not be zero")
        return value


class AdjustmentOut(BaseModel):
    transaction_id: int
    customer_id: int
    amount: Money
    reason: str
    balance_after: Money
    currency: str
    created_at: datetime
