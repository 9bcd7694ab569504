"""Telegram Payments: the bot sends the invoice and Telegram's own form takes the money. The
provider side here is small: Telegram names the payment (telegram_payment_charge_id) only when
it is paid, and `successful_payment`, delivered over the bot's authenticated channel, is the
record a credit rests on. The invoice and crediting logic is in backend.payments.service."""

from __future__ import annotations

from backend.config import Settings
from backend.models import Payment, PaymentStatus
from backend.payments.errors import ProviderUnavailable
from backend.payments.providers.base import Created, ProviderState

NAME = "telegram"
PAYLOAD_PREFIX = "topup:"
MAX_PAYLOAD_BYTES = 128  # Telegram's limit on an invoice payload


def enabled(settings: Settings) -> bool:
    return settings.telegram_payments_provider_token is not None


def payload_for(payment: Payment) -> str:
    return f"{PAYLOAD_PREFIX}{payment.public_id}"


def public_id_from(payload: str) -> str | None:
    if not payload.startswith(PAYLOAD_PREFIX) or len(payload.encode()) > MAX_PAYLOAD_BYTES:
        return None
    public_id = payload[len(PAYLOAD_PREFIX) :]
    return public_id if 0 < len(public_id) <= 36 else None


class TelegramProvider:
    name = NAME

    async def create(self, payment: Payment, description: str, return_url: str) -> Created:
        # Nothing to register: the invoice message is the checkout.
        return Created(
            provider_payment_id=None, confirmation_url=None, status=PaymentStatus.pending
        )

    async def fetch(self, provider_payment_id: str) -> ProviderState:
        raise ProviderUnavailable(
            "Telegram has no payment lookup; successful_payment is the record"
        )
