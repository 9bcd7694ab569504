"""A local stand-in of the YooKassa API v3 (https://yookassa.ru/developers/api), enough for
provider-desk's payments: `POST /v3/payments` (HTTP Basic shop_id:secret_key, a required
`Idempotence-Key`: the same key answers the same payment), `GET /v3/payments/{id}` and
`GET /v3/refunds/{id}`, with YooKassa's error body shape. The test moves a payment on with
`succeed()` / `cancel()` (or `POST /_test/payments/{id}/succeed|cancel`), as the customer paying
on YooKassa's page would, refunds it with `refund()` as the shop's dashboard would, and makes
the API fail with `unavailable = True`."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

AMOUNT_VALUE = re.compile(r"^\d{1,10}\.\d{2}$")
MAX_IDEMPOTENCE_KEY = 64  # YooKassa's documented limit


def _error(status: int, code: str, description: str, parameter: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "error",
        "id": str(uuid.uuid4()),
        "code": code,
        "description": description,
    }
    if parameter:
        body["parameter"] = parameter
    return JSONResponse(body, status_code=status)


@dataclass
class Call:
    method: str
    path: str
    idempotence_key: str | None
    body: Any


@dataclass
class YooKassaStandIn:
    shop_id: str = "100500"
    secret_key: str = "test_standin_secret"
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # Idempotence-Key -> (the request body it was first used with, the payment id)
    keys: dict[str, tuple[Any, str]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    # While True every GET answers 500, as YooKassa does in an incident.
    unavailable: bool = False

    def __post_init__(self) -> None:
        self.app = self._build()

    # --- what the test does on "YooKassa's side" ----------------------------------------

    def succeed(self, payment_id: str) -> None:
        payment = self.payments[payment_id]
        payment.update(status="succeeded", paid=True, captured_at=_now())

    def cancel(self, payment_id: str) -> None:
        payment = self.payments[payment_id]
        payment.update(
            status="canceled",
            paid=False,
            cancellation_details={"party": "yoo_money", "reason": "expired_on_confirmation"},
        )

    def set_amount(self, payment_id: str, value: str) -> None:
        self.payments[payment_id]["amount"]["value"] = value

    def refund(
        self, payment_id: str, value: str | None = None, *, status: str = "succeeded"
    ) -> str:
        """A refund of a succeeded payment (all of it unless `value`), as made in the shop's
        dashboard; returns the refund's id. YooKassa refuses more than what is left."""
        payment = self.payments[payment_id]
        assert payment["status"] == "succeeded", "YooKassa refunds succeeded payments only"
        amount = Decimal(value if value is not None else payment["amount"]["value"])
        currency = payment["amount"]["currency"]
        done = Decimal(payment.get("refunded_amount", {}).get("value", "0"))
        assert done + amount <= Decimal(payment["amount"]["value"]), "refund exceeds the payment"
        refund_id = f"2{uuid.uuid4().hex[:7]}-0015-5000-8000-{uuid.uuid4().hex[:12]}"
        self.refunds[refund_id] = {
            "id": refund_id,
            "payment_id": payment_id,
            "status": status,
            "created_at": _now(),
            "amount": {"value": f"{amount:.2f}", "currency": currency},
        }
        if status == "succeeded":
            payment["refunded_amount"] = {"value": f"{done + amount:.2f}", "currency": currency}
        return refund_id

    def settle_refund(self, refund_id: str) -> None:
        refund = self.refunds[refund_id]
        payment = self.payments[refund["payment_id"]]
        done = Decimal(payment.get("refunded_amount", {}).get("value", "0"))
        total = done + Decimal(refund["amount"]["value"])
        refund["status"] = "succeeded"
        payment["refunded_amount"] = {
            "value": f"{total:.2f}",
            "currency": refund["amount"]["currency"],
        }

    # --- the API -------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.shop_id and password == self.secret_key

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v3/payments")
        async def create(request: Request) -> JSONResponse:
            key = request.headers.get("idempotence-key")
            try:
                body = await request.json()
            except ValueError:
                body = None
            self.calls.append(Call("POST", "/v3/payments", key, body))
            if not self._authorized(request):
                return _error(
                    401, "invalid_credentials", "Authentication by given credentials failed"
                )
            if not key or len(key) > MAX_IDEMPOTENCE_KEY:
                return _error(
                    400, "invalid_request", "Idempotence key is missing", "Idempotence-Key"
                )
            if key in self.keys:
                first_body, payment_id = self.keys[key]
                if first_body != body:
                    return _error(
                        400,
                        "invalid_request",
                        "Idempotence key duplicated with another request",
                        "Idempotence-Key",
                    )
                return JSONResponse(self.payments[payment_id])
            problem = _check_create_body(body)
            if problem:
                return _error(400, "invalid_request", f"{problem} is invalid", problem)
            payment_id = f"2{uuid.uuid4().hex[:7]}-000f-5000-9000-{uuid.uuid4().hex[:12]}"
            payment = {
                "id": payment_id,
                "status": "pending",
                "paid": False,
                "amount": dict(body["amount"]),
                "confirmation": {
                    "type": "redirect",
                    "return_url": body["confirmation"]["return_url"],
                    "confirmation_url": (
                        f"https://yoomoney.ru/checkout/payments/v2/contract?orderId={payment_id}"
                    ),
                },
                "created_at": _now(),
                "description": body.get("description"),
                "metadata": body.get("metadata", {}),
                "recipient": {"account_id": self.shop_id, "gateway_id": "100700"},
                "refundable": False,
                "test": True,
            }
            self.payments[payment_id] = payment
            self.keys[key] = (body, payment_id)
            return JSONResponse(payment)

        @app.get("/v3/payments/{payment_id}")
        async def fetch(payment_id: str, request: Request) -> JSONResponse:
            self.calls.append(Call("GET", f"/v3/payments/{payment_id}", None, None))
            if not self._authorized(request):
                return _error(
                    401, "invalid_credentials", "Authentication by given credentials failed"
                )
            if self.unavailable:
                return _error(500, "internal_server_error", "Internal server error")
            payment = self.payments.get(payment_id)
            if payment is None:
                return _error(404, "not_found", "Payment not found", "payment_id")
            return JSONResponse(payment)

        @app.get("/v3/refunds/{refund_id}")
        async def fetch_refund(refund_id: str, request: Request) -> JSONResponse:
            self.calls.append(Call("GET", f"/v3/refunds/{refund_id}", None, None))
            if not self._authorized(request):
                return _error(
                    401, "invalid_credentials", "Authentication by given credentials failed"
                )
            if self.unavailable:
                return _error(500, "internal_server_error", "Internal server error")
            refund = self.refunds.get(refund_id)
            if refund is None:
                return _error(404, "not_found", "Refund not found", "refund_id")
            return JSONResponse(refund)

        @app.post("/_test/payments/{payment_id}/{action}")
        async def control(payment_id: str, action: str) -> JSONResponse:
            if payment_id not in self.payments or action not in ("succeed", "cancel"):
                return _error(404, "not_found", "no such payment or action")
            (self.succeed if action == "succeed" else self.cancel)(payment_id)
            return JSONResponse(self.payments[payment_id])

        return app


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _check_create_body(body: Any) -> str | None:
    """The first invalid parameter of a create request, as YooKassa names it."""
    if not isinstance(body, dict):
        return "body"
    amount = body.get("amount")
    if not isinstance(amount, dict) or not AMOUNT_VALUE.match(str(amount.get("value", ""))):
        return "amount.value"
    if not re.match(r"^[A-Z]{3}$", str(amount.get("currency", ""))):
        return "amount.currency"
    if body.get("capture") is not True:
        return "capture"
    confirmation = body.get("confirmation")
    if (
        not isinstance(confirmation, dict)
        or confirmation.get("type") != "redirect"
        or not str(confirmation.get("return_url", "")).startswith(("http://", "https://"))
    ):
        return "confirmation"
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 128):
        return "description"
    if not isinstance(body.get("metadata", {}), dict):
        return "metadata"
    return None
