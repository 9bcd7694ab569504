from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.billing.ledger import MAX_ABS_AMOUNT
from backend.models import Payment, PaymentStatus

# strict: JSON 100.5, "10000" and true are not amounts of kopecks.
Amount = Annotated[
    int, Field(strict=True, ge=1, le=MAX_ABS_AMOUNT, description="minor units (kopecks)")
]
Currency = Annotated[str, Field(pattern="^[A-Z]{3}$", description="ISO 4217 code, e.g. RUB")]
ProviderName = Annotated[str, Field(min_length=1, max_length=32)]
ProviderPaymentId = Annotated[str, Field(min_length=1, max_length=128)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PaymentIn(Strict):
    amount: Amount | None = Field(
        default=None,
        description="minor units, settings.topup_min..topup_max; defaults to the invoice's "
        "remaining amount when `invoice_id` is given",
    )
    invoice_id: Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)] | None = Field(
        default=None, description="one of your pending invoices to pay first"
    )
    provider: ProviderName | None = Field(
        default=None, description="sandbox | yookassa; defaults to the provider's configured one"
    )
    currency: Currency | None = Field(
        default=None, description="must be the account's currency when given"
    )
    return_url: Annotated[str, Field(min_length=1, max_length=1024)] | None = Field(
        default=None,
        description="where the payment page sends the customer back (http(s), on this "
        "service's host); defaults to the payment status page",
    )


class PaymentOut(BaseModel):
    id: str = Field(description="the payment's public id")
    status: PaymentStatus
    amount: int = Field(description="minor units (kopecks)")
    currency: str
    provider: str
    confirmation_url: str | None = Field(description="where the customer pays")
    invoice_id: int | None
    created_at: datetime
    credited_at: datetime | None
    refunded_amount: int = Field(description="minor units the provider has refunded")
    refund_status: Literal["none", "partly_refunded", "refunded"] = Field(
        description="whether the provider refunded none, part or all of the payment"
    )

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        refunded = payment.refunded_amount or 0
        refund_status: Literal["none", "partly_refunded", "refunded"] = (
            "none"
            if refunded <= 0
            else "refunded"
            if refunded >= payment.amount
            else "partly_refunded"
        )
        return cls(
            id=payment.public_id,
            status=payment.status,
            amount=payment.amount,
            currency=payment.currency,
            provider=payment.provider,
            confirmation_url=payment.confirmation_url,
            invoice_id=payment.invoice_id,
            created_at=payment.created_at,
            credited_at=payment.credited_at,
            refunded_amount=refunded,
            refund_status=refund_status,
        )


class PaymentPage(BaseModel):
    items: list[PaymentOut]
    next_before: str | None = Field(
        description="pass as `before` for the next (older) page; null on the last page"
    )


class PaymentStatusOut(BaseModel):
    status: PaymentStatus


class WebhookAck(BaseModel):
    status: Literal[
        "credited",
        "duplicate",
        "cancelled",
        "expired",
        "failed",
        "ignored",
        "pending",
        "unchanged",
        "refunded",
    ] = Field(description="what the notification changed (for the provider's logs only)")


# --- provider notifications -------------------------------------------------------------------


class SandboxEvent(Strict):
    """The body the embedded sandbox provider signs and posts to its webhook."""

    event: Literal["payment.succeeded", "payment.canceled"]
    payment_id: ProviderPaymentId
    amount: Amount
    currency: Currency


class YooKassaObject(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: ProviderPaymentId


class YooKassaNotification(BaseModel):
    """Only what is needed to find the payment: the rest of the body is not trusted."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["notification"]
    event: Annotated[str, Field(min_length=1, max_length=64)]
    object: YooKassaObject


# --- Telegram Payments --------------------------------------------------------------------


class TelegramPrice(BaseModel):
    label: str
    amount: int = Field(description="minor units, as Telegram's LabeledPrice wants them")


class TelegramInvoice(BaseModel):
    """The arguments of `bot.send_invoice` (the provider token comes from settings)."""

    payment_id: str = Field(description="the payment's public id")
    title: str = Field(max_length=32)
    description: str = Field(max_length=255)
    payload: str = Field(max_length=128)
    currency: str
    prices: list[TelegramPrice]
