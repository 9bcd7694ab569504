"""YooKassa API v3 (https://yookassa.ru/developers/api): a payment with redirect
confirmation and automatic capture. Notifications are not trusted: the webhook re-fetches the
payment with `GET /payments/{id}` and credits only what that answer says."""

from __future__ import annotations

import ipaddress
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.config import Settings
from backend.logging import get_logger
from backend.models import Payment, PaymentStatus
from backend.payments.errors import NotFoundAtProvider, ProviderNotConfigured, ProviderUnavailable
from backend.payments.providers.base import Created, ProviderState, RefundState, format_amount

log = get_logger("payments.yookassa")

NAME = "yookassa"
TIMEOUT_S = 15.0
# YooKassa limits the description to 128 characters.
MAX_DESCRIPTION = 128

_STATUS_OF = {
    "pending": PaymentStatus.pending,
    "waiting_for_capture": PaymentStatus.pending,  # not with capture=true, but harmless
    "succeeded": PaymentStatus.succeeded,
    "canceled": PaymentStatus.cancelled,
}


class _Amount(BaseModel):
    model_config = ConfigDict(extra="ignore")
    value: str = Field(max_length=32)
    currency: str = Field(pattern="^[A-Z]{3}$")


class _Confirmation(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    confirmation_url: str | None = Field(default=None, max_length=1024)


class _Payment(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=128)
    status: str
    amount: _Amount
    confirmation: _Confirmation | None = None


class _Refund(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=128)
    payment_id: str = Field(min_length=1, max_length=128)
    status: str
    amount: _Amount


Answer = TypeVar("Answer", _Payment, _Refund)


def enabled(settings: Settings) -> bool:
    return bool(settings.yookassa_shop_id and settings.yookassa_secret_key)


def parse_amount(value: str) -> int:
    """ "100.00" -> 10000; anything that is not a non-negative amount with at most two
    decimals is a malformed answer."""
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise ProviderUnavailable("YooKassa sent a malformed amount") from exc
    exponent = number.as_tuple().exponent
    if not number.is_finite() or number < 0 or not isinstance(exponent, int) or exponent < -2:
        raise ProviderUnavailable("YooKassa sent a malformed amount")
    return int(number * 100)


def source_allowed(settings: Settings, ip: str | None) -> bool:
    """Whether a notification comes from one of YooKassa's documented addresses."""
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for network in settings.yookassa_allowed_ips:
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            log.error("bad entry in YOOKASSA_ALLOWED_IPS", entry=network)
    return False


class YooKassaProvider:
    name = NAME

    def __init__(self, settings: Settings) -> None:
        if not enabled(settings):
            raise ProviderNotConfigured("YooKassa is not configured (shop id and secret key)")
        assert settings.yookassa_shop_id is not None
        assert settings.yookassa_secret_key is not None
        self.base = settings.yookassa_api_base.rstrip("/")
        self.auth = httpx.BasicAuth(
            settings.yookassa_shop_id, settings.yookassa_secret_key.get_secret_value()
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        answer: type[Answer] = _Payment,  # type: ignore[assignment]
    ) -> Answer:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S, auth=self.auth) as client:
                response = await client.request(
                    method, f"{self.base}{path}", json=json, headers=headers
                )
        except httpx.HTTPError as exc:
            log.warning("yookassa unreachable", method=method, error=type(exc).__name__)
            raise ProviderUnavailable() from exc
        if response.status_code == 404 and method == "GET":
            raise NotFoundAtProvider("YooKassa has no such object")
        if not response.is_success:
            # YooKassa's error body: {"type": "error", "code", "description", "parameter"}
            log.error(
                "yookassa error",
                method=method,
                status=response.status_code,
                body=response.text[:300],
            )
            raise ProviderUnavailable(f"YooKassa answered {response.status_code}")
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            raise ProviderUnavailable("YooKassa sent a malformed answer") from exc

    async def create(self, payment: Payment, description: str, return_url: str) -> Created:
        body = {
            "amount": {"value": format_amount(payment.amount), "currency": payment.currency},
            "capture": True,
            "confirmation": {"type": "redirect", "return_url": return_url},
            "description": description[:MAX_DESCRIPTION],
            "metadata": {"payment_id": payment.public_id},
        }
        # The public id as Idempotence-Key: a retried create returns the same payment.
        answer = await self._call(
            "POST", "/payments", json=body, headers={"Idempotence-Key": payment.public_id}
        )
        url = answer.confirmation.confirmation_url if answer.confirmation else None
        if not url:
            raise ProviderUnavailable("YooKassa returned no confirmation URL")
        return Created(
            provider_payment_id=answer.id,
            confirmation_url=url,
            status=_STATUS_OF.get(answer.status, PaymentStatus.pending),
        )

    async def fetch(self, provider_payment_id: str) -> ProviderState:
        answer = await self._call("GET", f"/payments/{quote(provider_payment_id, safe='')}")
        return ProviderState(
            status=_STATUS_OF.get(answer.status, PaymentStatus.pending),
            amount=parse_amount(answer.amount.value),
            currency=answer.amount.currency,
        )

    async def fetch_refund(self, refund_id: str) -> RefundState:
        """`GET /refunds/{id}`: NotFoundAtProvider when YooKassa has no such refund."""
        answer = await self._call("GET", f"/refunds/{quote(refund_id, safe='')}", answer=_Refund)
        return RefundState(
            id=answer.id,
            provider_payment_id=answer.payment_id,
            succeeded=answer.status == "succeeded",
            amount=parse_amount(answer.amount.value),
            currency=answer.amount.currency,
        )
