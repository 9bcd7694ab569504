"""Payments API (`router`, mounted under /api/v1) and the payment pages (`pages_router`,
unprefixed: /pay/sandbox/..., /pay/status/...)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Header, Path, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from backend import idempotency
from backend.context import current_request
from backend.deps import (
    CurrentCustomer,
    CurrentCustomerOrStaff,
    ResourcesDep,
    SessionDep,
    SettingsDep,
    actor_of,
    customer_scope,
)
from backend.errors import NotFound, RateLimited, refusals
from backend.idempotency import (
    IdempotencyKeyDep,
    IdempotencyKeyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
)
from backend.models import PaymentStatus
from backend.payments import pages, service
from backend.payments.errors import (
    AmountOutOfRange,
    AmountRequired,
    CustomerIdRequired,
    InvalidFormToken,
    InvalidPayload,
    InvalidReturnUrl,
    InvalidSignature,
    InvoiceNotPayable,
    InvoiceToPayNotFound,
    PayerNotFound,
    PaymentNotFound,
    ProviderNotConfigured,
    ProviderUnavailable,
    SourceNotAllowed,
    UnknownProvider,
    UnsupportedCurrency,
)
from backend.payments.providers import sandbox
from backend.payments.schemas import (
    PaymentIn,
    PaymentOut,
    PaymentPage,
    PaymentStatusOut,
    WebhookAck,
)

router = APIRouter(tags=["payments"])
pages_router = APIRouter(tags=["payment pages"], include_in_schema=False)

PublicId = Annotated[str, Path(min_length=1, max_length=36)]
SandboxId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
Lang = Annotated[str | None, Query(max_length=16, description="ru | en")]


# --- the customer's payments ----------------------------------------------------------------


@router.post(
    "/payments",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    responses=refusals(
        PayerNotFound,
        InvoiceToPayNotFound,
        InvoiceNotPayable,
        IdempotencyKeyInProgress,
        AmountRequired,
        AmountOutOfRange,
        UnsupportedCurrency,
        InvalidReturnUrl,
        UnknownProvider,
        ProviderNotConfigured,
        IdempotencyKeyRequired,
        IdempotencyKeyInvalid,
        IdempotencyKeyReused,
        RateLimited,
        ProviderUnavailable,
    ),
)
async def create_payment(
    data: PaymentIn,
    principal: CurrentCustomer,
    key: IdempotencyKeyDep,
    session: SessionDep,
    resources: ResourcesDep,
) -> JSONResponse:
    """Start a top-up: pay at `confirmation_url`. The balance is credited when the provider
    confirms the payment. Requires `Idempotency-Key`: repeating the request with the same key
    and body returns the same payment; the same key with another body is refused with
    `idempotency_key_reused`."""
    assert principal.customer_id is not None
    customer_id = principal.customer_id

    async def action() -> PaymentOut:
        payment = await service.create_payment(
            session,
            resources.settings,
            resources.limiter,
            customer_id=customer_id,
            data=data,
            idempotency_key=key,
            actor=actor_of(principal),
        )
        return PaymentOut.of(payment)

    return await idempotency.run(
        session,
        user_id=principal.user_id,
        key=key,
        endpoint="payments.create",
        request=data,
        action=action,
        status_code=status.HTTP_201_CREATED,
    )


@router.get("/payments", responses=refusals(PaymentNotFound, CustomerIdRequired))
async def list_payments(
    principal: CurrentCustomerOrStaff,
    session: SessionDep,
    customer_id: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="staff only")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[str | None, Query(max_length=36, description="`next_before`")] = None,
) -> PaymentPage:
    """Payments, newest first: a customer's own; staff name the customer."""
    own = customer_scope(principal)
    if own is not None:
        customer_id = own
    elif customer_id is None:
        raise CustomerIdRequired()
    return await service.payment_page(session, customer_id, limit=limit, before=before)


@router.get("/payments/{public_id}", responses=refusals(PaymentNotFound))
async def get_payment(
    public_id: PublicId, principal: CurrentCustomerOrStaff, session: SessionDep
) -> PaymentOut:
    """One payment; a customer sees only their own (others answer 404)."""
    owner = customer_scope(principal)
    return PaymentOut.of(await service.get_payment(session, public_id, customer_id=owner))


@router.get("/payments/{public_id}/status", responses=refusals(PaymentNotFound))
async def get_payment_status(public_id: PublicId, session: SessionDep) -> PaymentStatusOut:
    """Public, for the payment status page: the status only, by the unguessable public id."""
    return PaymentStatusOut(status=await service.public_status(session, public_id))


# --- provider notifications -----------------------------------------------------------------


@router.post(
    "/payments/webhooks/sandbox",
    responses=refusals(InvalidPayload, InvalidSignature, NotFound),
)
async def sandbox_webhook(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signature: Annotated[str | None, Header(alias=sandbox.SIGNATURE_HEADER)] = None,
) -> WebhookAck:
    """The sandbox provider's notification, signed with HMAC-SHA256 over the raw body
    (`X-Sandbox-Signature: sha256=<hex>`); 404 `not_found` while the sandbox is off."""
    body = await request.body()
    return WebhookAck(
        status=await service.handle_sandbox_webhook(session, settings, body, signature)
    )


@router.post(
    "/payments/webhooks/yookassa",
    responses=refusals(InvalidPayload, SourceNotAllowed, ProviderUnavailable),
)
async def yookassa_webhook(
    request: Request, session: SessionDep, settings: SettingsDep
) -> WebhookAck:
    """YooKassa's HTTP notification. Accepted from YOOKASSA_ALLOWED_IPS only; the payment is
    re-fetched from the YooKassa API and credited only as that answer says. `refund.succeeded`
    is re-fetched likewise (`GET /refunds/{id}`) and debited once per refund id."""
    body = await request.body()
    ack = await service.handle_yookassa_notification(session, settings, body, current_request().ip)
    return WebhookAck(status=ack)


# --- pages ----------------------------------------------------------------------------------


def _locale(request: Request, lang: str | None) -> str:
    return pages.negotiate_locale(lang, request.headers.get("accept-language"))


def _return_url(details: dict[str, object]) -> str | None:
    value = details.get("return_url")
    return value if isinstance(value, str) else None


@pages_router.get("/pay/sandbox/{provider_payment_id}", response_class=HTMLResponse)
async def sandbox_checkout(
    provider_payment_id: SandboxId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: Lang = None,
) -> HTMLResponse:
    locale = _locale(request, lang)
    try:
        payment = await service.sandbox_payment(session, settings, provider_payment_id)
    except PaymentNotFound:
        return pages.error_page(locale, status_code=404, key="payments-error-not-found")
    state = sandbox.state_of(payment)
    if payment.status is PaymentStatus.pending and state.get("state") == "pending":
        return pages.checkout_page(
            locale,
            payment,
            description=str(state.get("description") or ""),
            form_token=str(state.get("form_token") or ""),
        )
    return pages.status_page(locale, payment, return_url=_return_url(payment.details or {}))


async def _decide(
    provider_payment_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    background: BackgroundTasks,
    token: str,
    lang: str,
    *,
    pay: bool,
) -> Response:
    locale = _locale(request, lang or None)
    try:
        payment, event = await service.sandbox_decide(
            session, settings, provider_payment_id, token, pay=pay
        )
    except PaymentNotFound:
        return pages.error_page(locale, status_code=404, key="payments-error-not-found")
    except InvalidFormToken:
        return pages.error_page(locale, status_code=403, key="payments-error-form-token")
    if event is not None:
        # After the response (and after the commit above it): the page answers at once.
        background.add_task(
            sandbox.deliver_webhook,
            sandbox.webhook_url(settings),
            event,
            settings.sandbox_webhook_secret.get_secret_value(),
        )
    return RedirectResponse(
        f"/pay/status/{payment.public_id}?lang={locale}", status_code=status.HTTP_303_SEE_OTHER
    )


FormToken = Annotated[str, Form(max_length=128)]
FormLang = Annotated[str, Form(max_length=16)]


@pages_router.post("/pay/sandbox/{provider_payment_id}/pay")
async def sandbox_pay(
    provider_payment_id: SandboxId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    background: BackgroundTasks,
    token: FormToken = "",
    lang: FormLang = "",
) -> Response:
    return await _decide(
        provider_payment_id, request, session, settings, background, token, lang, pay=True
    )


@pages_router.post("/pay/sandbox/{provider_payment_id}/decline")
async def sandbox_decline(
    provider_payment_id: SandboxId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    background: BackgroundTasks,
    token: FormToken = "",
    lang: FormLang = "",
) -> Response:
    return await _decide(
        provider_payment_id, request, session, settings, background, token, lang, pay=False
    )


@pages_router.get("/pay/status/{public_id}", response_class=HTMLResponse)
async def payment_status_page(
    public_id: PublicId, request: Request, session: SessionDep, lang: Lang = None
) -> HTMLResponse:
    """Where the customer lands after paying (any provider's return_url by default)."""
    locale = _locale(request, lang)
    try:
        payment = await service.get_payment(session, public_id, customer_id=None)
    except PaymentNotFound:
        return pages.error_page(locale, status_code=404, key="payments-error-not-found")
    return pages.status_page(locale, payment, return_url=_return_url(payment.details or {}))
