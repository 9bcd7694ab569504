"""The interface every payment provider implements, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from backend.models import Payment, PaymentStatus


@dataclass(frozen=True, slots=True)
class Created:
    # None until the provider names the payment (Telegram does so only when it is paid).
    provider_payment_id: str | None
    confirmation_url: str | None
    status: PaymentStatus


@dataclass(frozen=True, slots=True)
class ProviderState:
    """The provider's own record of a payment: the only thing a credit may rest on."""

    status: PaymentStatus
    amount: int  # minor units
    currency: str


@dataclass(frozen=True, slots=True)
class RefundState:
    """The provider's own record of a refund: what a ledger debit rests on."""

    id: str
    provider_payment_id: str
    succeeded: bool
    amount: int  # minor units, positive
    currency: str


class PaymentProvider(Protocol):
    name: str

    async def create(self, payment: Payment, description: str, return_url: str) -> Created:
        """Register `payment` (already flushed: it has its id and public_id) with the
        provider and say where the customer pays."""
        ...

    async def fetch(self, provider_payment_id: str) -> ProviderState:
        """Ask the provider for the payment's current state."""
        ...


def format_amount(amount: int) -> str:
    """Minor units as the decimal string payment APIs want: 10000 -> "100.00"."""
    whole, minor = divmod(amount, 100)
    return f"{whole}.{minor:02d}"
