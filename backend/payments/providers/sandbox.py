"""The embedded default provider: the app plays the payment provider itself. Its "provider
side" lives in the payment's `details["sandbox"]` (written in the same transaction as the
payment); the checkout page at /pay/sandbox/{id} changes it and then notifies the app over real
HTTP with an HMAC-SHA256-signed webhook, as an external provider would."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any, Literal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.logging import get_logger
from backend.models import Payment, PaymentStatus
from backend.payments import repository
from backend.payments.errors import ProviderUnavailable
from backend.payments.providers.base import Created, ProviderState

log = get_logger("payments.sandbox")

NAME = "sandbox"
SIGNATURE_HEADER = "X-Sandbox-Signature"
WEBHOOK_PATH = "/api/v1/payments/webhooks/sandbox"
WEBHOOK_ATTEMPTS = 5
WEBHOOK_BACKOFF_S = 0.5
WEBHOOK_TIMEOUT_S = 10.0

SandboxState = Literal["pending", "succeeded", "canceled"]
_STATUS_OF: dict[str, PaymentStatus] = {
    "pending": PaymentStatus.pending,
    "succeeded": PaymentStatus.succeeded,
    "canceled": PaymentStatus.cancelled,
}


def enabled(settings: Settings) -> bool:
    # A sandbox payment is free money: it exists only when it is the configured provider, in
    # every APP_ENV (a staging deployment of YooKassa must not accept sandbox-signed credits;
    # and Settings refuses the demo webhook secret in production).
    return settings.payment_provider == NAME


def state_of(payment: Payment) -> dict[str, Any]:
    value = (payment.details or {}).get(NAME)
    return dict(value) if isinstance(value, dict) else {}


def set_state(payment: Payment, state: SandboxState) -> None:
    # A new dict: SQLAlchemy does not see in-place changes of a JSON value.
    payment.details = {**(payment.details or {}), NAME: {**state_of(payment), "state": state}}


def form_token_matches(payment: Payment, token: str) -> bool:
    expected = str(state_of(payment).get("form_token") or "")
    return bool(expected) and hmac.compare_digest(expected.encode(), token.encode())


def checkout_url(settings: Settings, provider_payment_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/pay/sandbox/{provider_payment_id}"


def webhook_url(settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}{WEBHOOK_PATH}"


def sign(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode("latin-1"))


def event_body(payment: Payment, event: Literal["payment.succeeded", "payment.canceled"]) -> bytes:
    assert payment.provider_payment_id is not None
    return json.dumps(
        {
            "event": event,
            "payment_id": payment.provider_payment_id,
            "amount": payment.amount,
            "currency": payment.currency,
        },
        separators=(",", ":"),
    ).encode()


async def deliver_webhook(
    url: str,
    body: bytes,
    secret: str,
    *,
    attempts: int = WEBHOOK_ATTEMPTS,
    backoff_s: float = WEBHOOK_BACKOFF_S,
) -> bool:
    """POST the signed event, retrying network errors and 5xx with exponential backoff.
    Runs after the checkout page has answered; returns whether the app accepted it."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)}
    async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as client:
        for attempt in range(attempts):
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                log.warning("sandbox webhook failed", attempt=attempt + 1, error=type(exc).__name__)
            else:
                if response.is_success:
                    return True
                # a 4xx other than a timeout or a rate limit will not change on a retry
                if response.status_code < 500 and response.status_code not in (408, 429):
                    log.error("sandbox webhook refused", status=response.status_code)
                    return False
                log.warning(
                    "sandbox webhook failed", attempt=attempt + 1, status=response.status_code
                )
            if attempt + 1 < attempts:
                await asyncio.sleep(backoff_s * 2**attempt)
    log.error("sandbox webhook undelivered", url=url)
    return False


class SandboxProvider:
    name = NAME

    def __init__(self, settings: Settings, session: AsyncSession) -> None:
        self.settings = settings
        self.session = session

    async def create(self, payment: Payment, description: str, return_url: str) -> Created:
        provider_payment_id = f"sbx_{uuid.uuid4().hex}"
        payment.details = {
            **(payment.details or {}),
            NAME: {
                "state": "pending",
                # The checkout forms carry it back: a page elsewhere cannot post Pay blindly.
                "form_token": secrets.token_urlsafe(32),
                "description": description,
                "return_url": return_url,
            },
        }
        return Created(
            provider_payment_id=provider_payment_id,
            confirmation_url=checkout_url(self.settings, provider_payment_id),
            status=PaymentStatus.pending,
        )

    async def fetch(self, provider_payment_id: str) -> ProviderState:
        payment = await repository.by_provider_id(self.session, NAME, provider_payment_id)
        if payment is None:
            raise ProviderUnavailable("the sandbox has no such payment")
        state = str(state_of(payment).get("state") or "pending")
        return ProviderState(
            status=_STATUS_OF.get(state, PaymentStatus.pending),
            amount=payment.amount,
            currency=payment.currency,
        )
