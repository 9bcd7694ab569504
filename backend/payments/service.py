"""Payments: top-ups paid through a provider, and crediting them exactly once.

A provider payment is credited once however many times, and in whatever order, its events
arrive: `credit()` works under the payment's row lock and returns early once the payment has
succeeded, the ledger posting is unique per `{provider}:{provider_payment_id}`, and
(provider, provider_payment_id) is unique. A cancellation never undoes a success; a success
that arrives after a cancellation (or an expiry) is believed only when the provider's own
record says so. A refund the provider made is debited once per refund id (the payment_refunds
row and the ledger reference `{provider}:{refund_id}` are unique). Reconciliation of pending
payments is in backend.payments.tasks (docs/billing.md, Payments)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import SYSTEM, Actor
from backend.billing import ledger, lifecycle
from backend.clock import utcnow
from backend.config import Settings
from backend.errors import NotFound
from backend.i18n import t
from backend.logging import get_logger
from backend.models import Invoice, InvoiceStatus, Payment, PaymentStatus, TransactionReason
from backend.models.payment import PaymentRefund
from backend.payments import providers, repository
from backend.payments.errors import (
    AmountOutOfRange,
    AmountRequired,
    InvalidFormToken,
    InvalidPayload,
    InvalidReturnUrl,
    InvalidSignature,
    InvoiceNotPayable,
    InvoiceToPayNotFound,
    NotFoundAtProvider,
    PayerNotFound,
    PaymentNotFound,
    ProviderNotConfigured,
    SourceNotAllowed,
    UnknownProvider,
    UnsupportedCurrency,
)
from backend.payments.providers import PaymentProvider, sandbox, telegram, yookassa
from backend.payments.providers.base import RefundState
from backend.payments.schemas import (
    PaymentIn,
    PaymentOut,
    PaymentPage,
    SandboxEvent,
    TelegramInvoice,
    TelegramPrice,
    YooKassaNotification,
)
from backend.ratelimit import RateLimiter

log = get_logger("payments")

M = TypeVar("M", bound=BaseModel)


# Reasons validate_pre_checkout gives; the bot shows the text of `error-<code>` (kebab-case).
PreCheckoutError = Literal[
    "payment_not_found",
    "payment_already_paid",
    "payment_not_payable",
    "payment_amount_mismatch",
    "payment_currency_mismatch",
]

Ack = Literal[
    "credited",
    "duplicate",
    "cancelled",
    "expired",
    "failed",
    "ignored",
    "pending",
    "unchanged",
    "refunded",
]


@dataclass(slots=True)
class CreditOutcome:
    payment: Payment
    credited: bool  # True only for the one call that moved the money
    balance: int | None = None
    restored: bool = False  # the credit lifted a suspension for debt

    @property
    def ack(self) -> Ack:
        if self.credited:
            return "credited"
        status = self.payment.status
        if status is PaymentStatus.succeeded:
            return "duplicate"
        if status is PaymentStatus.failed:
            return "failed"
        if status is PaymentStatus.cancelled:
            return "cancelled"
        if status is PaymentStatus.expired:
            return "expired"
        return "pending"


# --- creating -------------------------------------------------------------------------------


def check_return_url(settings: Settings, url: str) -> str:
    """Only back to ourselves: a payment page must not become an open redirect."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidReturnUrl()
    try:
        parts, ours = urlsplit(url), urlsplit(settings.public_url)
        port, our_port = parts.port, ours.port
    except ValueError as exc:
        raise InvalidReturnUrl() from exc
    default_port = {"http": 80, "https": 443}
    if (
        parts.scheme not in default_port
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.hostname != (ours.hostname or "").lower()
        or (port or default_port[parts.scheme]) != (our_port or default_port.get(ours.scheme, 0))
    ):
        raise InvalidReturnUrl()
    return url


def status_page_url(settings: Settings, public_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/pay/status/{public_id}"


async def _payable(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    amount: int | None,
    invoice_id: int | None,
    currency: str | None,
) -> tuple[int, str, Invoice | None]:
    """The amount and currency of a new top-up, checked against the rules."""
    account_currency = await repository.account_currency(session, customer_id)
    if account_currency is None:
        raise PayerNotFound()
    if currency is not None and currency != account_currency:
        raise UnsupportedCurrency(f"payments are accepted in {account_currency} only")
    low, high = settings.topup_min, settings.topup_max
    invoice = None
    if invoice_id is not None:
        invoice = await repository.invoice_of(session, customer_id, invoice_id)
        if invoice is None:
            raise InvoiceToPayNotFound()
        remaining = invoice.amount - invoice.paid_amount
        if invoice.status is not InvoiceStatus.pending or remaining <= 0:
            raise InvoiceNotPayable()
        # an invoice smaller than the minimum top-up can still be paid exactly
        low = min(low, remaining)
        amount = remaining if amount is None else amount
    if amount is None:
        raise AmountRequired()
    if isinstance(amount, bool) or not isinstance(amount, int) or not low <= amount <= high:
        raise AmountOutOfRange(
            f"the amount must be between {low} and {high} minor units", min=low, max=high
        )
    return amount, account_currency, invoice


async def _new_payment(
    session: AsyncSession,
    *,
    customer_id: int,
    provider: str,
    amount: int,
    currency: str,
    invoice: Invoice | None,
    idempotency_key: str | None,
) -> Payment:
    payment = Payment(
        customer_id=customer_id,
        invoice_id=invoice.id if invoice else None,
        public_id=str(uuid.uuid4()),
        provider=provider,
        idempotency_key=idempotency_key,
        amount=amount,
        currency=currency,
        status=PaymentStatus.pending,
        details={},
    )
    return await repository.add(session, payment)


async def create_payment(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    customer_id: int,
    data: PaymentIn,
    idempotency_key: str | None,
    actor: Actor,
) -> Payment:
    """A pending top-up registered with the provider; `confirmation_url` is where to pay."""
    limit = settings.payment_create_per_hour  # docs/reliability.md, "Rate limits count first"
    await limiter.hit("payment-create", str(customer_id), limit, 3600)
    name = data.provider or settings.payment_provider
    if name not in providers.KNOWN:
        raise UnknownProvider(
            f"unknown payment provider; use one of: {', '.join(providers.REDIRECT)}"
        )
    if name not in providers.REDIRECT:
        raise ProviderNotConfigured(f"{name} payments are made in the Telegram bot")
    provider = providers.get_provider(name, settings, session)
    return_url = check_return_url(settings, data.return_url) if data.return_url else None
    amount, currency, invoice = await _payable(
        session, settings, customer_id, data.amount, data.invoice_id, data.currency
    )
    customer = await repository.customer(session, customer_id)
    if customer is None:
        raise PayerNotFound()
    payment = await _new_payment(
        session,
        customer_id=customer_id,
        provider=name,
        amount=amount,
        currency=currency,
        invoice=invoice,
        idempotency_key=idempotency_key,
    )
    description = t(
        "payments-topup-description", customer.locale, contract=customer.contract_number
    )
    created = await provider.create(
        payment, description, return_url or status_page_url(settings, payment.public_id)
    )
    payment.provider_payment_id = created.provider_payment_id
    payment.confirmation_url = created.confirmation_url
    payment.status = created.status
    if return_url:
        # shown as "go back" on the status page; checked to be on our host above
        payment.details = {**(payment.details or {}), "return_url": return_url}
    await session.flush()
    await audit.record(
        session,
        "payment.created",
        actor,
        "payment",
        payment.id,
        public_id=payment.public_id,
        provider=name,
        amount=amount,
        currency=currency,
        invoice_id=payment.invoice_id,
    )
    return payment


# --- reading --------------------------------------------------------------------------------


async def get_payment(session: AsyncSession, public_id: str, *, customer_id: int | None) -> Payment:
    """`customer_id` None reads anyone's payment (staff); otherwise only that customer's,
    and someone else's answers 404 like a missing one."""
    payment = await repository.by_public_id(session, public_id, customer_id=customer_id)
    if payment is None:
        raise PaymentNotFound()
    return payment


async def payment_page(
    session: AsyncSession, customer_id: int, *, limit: int, before: str | None = None
) -> PaymentPage:
    before_id = None
    if before is not None:
        cursor = await repository.by_public_id(session, before, customer_id=customer_id)
        if cursor is None:
            raise PaymentNotFound("unknown `before` cursor")
        before_id = cursor.id
    rows = await repository.for_customer(session, customer_id, limit, before_id)
    return PaymentPage(
        items=[PaymentOut.of(p) for p in rows],
        next_before=rows[-1].public_id if len(rows) == limit else None,
    )


async def public_status(session: AsyncSession, public_id: str) -> PaymentStatus:
    payment = await repository.by_public_id(session, public_id)
    if payment is None:
        raise PaymentNotFound()
    return payment.status


# --- crediting ------------------------------------------------------------------------------


def _reference(payment: Payment) -> str:
    reference = f"{payment.provider}:{payment.provider_payment_id}"
    if len(reference) > 128:  # the ledger's reference column; real ids are far shorter
        reference = f"{payment.provider}:sha256:{hashlib.sha256(reference.encode()).hexdigest()}"
    return reference


async def credit(
    session: AsyncSession,
    settings: Settings,
    payment_id: int,
    *,
    amount: int,
    currency: str,
    told_in: Mapping[str, str] | None = None,
) -> CreditOutcome:
    """Credit a payment that the provider confirmed paid with `amount` `currency`. Callers
    pass only verified facts: a signed sandbox event, YooKassa's own answer, Telegram's
    successful_payment. `told_in` ({channel: address}) names the conversation whose reply
    announces the credit (the bot's answer to successful_payment): the `payment.credited`
    notice is not sent there again (notifications/events.py, "told_in")."""
    payment = await repository.lock(session, payment_id)
    if payment is None:
        raise PaymentNotFound()
    if payment.status is PaymentStatus.succeeded:
        return CreditOutcome(payment, credited=False)
    if payment.provider_payment_id is None:
        raise PaymentNotFound("the payment is not known to its provider yet")
    if amount != payment.amount or currency != payment.currency:
        if payment.status is not PaymentStatus.failed:
            payment.status = PaymentStatus.failed
            payment.details = {
                **(payment.details or {}),
                "failure": {"reason": "amount_mismatch", "amount": amount, "currency": currency},
            }
            await audit.record(
                session,
                "payment.failed",
                SYSTEM,
                "payment",
                payment.id,
                reason="amount_mismatch",
                expected_amount=payment.amount,
                expected_currency=payment.currency,
                reported_amount=amount,
                reported_currency=currency,
            )
            log.error("payment amount mismatch", payment_id=payment.id, provider=payment.provider)
        return CreditOutcome(payment, credited=False)

    txn, _ = await ledger.post(
        session,
        customer_id=payment.customer_id,
        amount=payment.amount,
        reason=TransactionReason.topup,
        reference_kind="payment",
        reference=_reference(payment),
        description=f"top-up via {payment.provider}",
        currency=payment.currency,
    )
    now = utcnow()
    payment.status = PaymentStatus.succeeded
    payment.credited_at = now
    effects = await lifecycle.after_credit(
        session, settings, payment.customer_id, payment.amount, now, invoice_id=payment.invoice_id
    )
    await outbox.enqueue(
        session,
        "payment.credited",
        {
            "customer_id": payment.customer_id,
            "payment_id": payment.id,
            "public_id": payment.public_id,
            "provider": payment.provider,
            "amount": payment.amount,
            "currency": payment.currency,
            "balance": effects.balance,
            "invoices_paid": effects.invoices_paid,
            "restored_subscriptions": effects.restored_subscriptions,
            **({"told_in": dict(told_in)} if told_in else {}),
        },
        f"payment-credited:{payment.id}",
    )
    await audit.record(
        session,
        "payment.credited",
        SYSTEM,
        "payment",
        payment.id,
        customer_id=payment.customer_id,
        provider=payment.provider,
        provider_payment_id=payment.provider_payment_id,
        amount=payment.amount,
        currency=payment.currency,
        transaction_id=txn.id,
        balance=effects.balance,
        invoices_paid=effects.invoices_paid,
        restored_subscriptions=effects.restored_subscriptions,
    )
    return CreditOutcome(
        payment,
        credited=True,
        balance=effects.balance,
        restored=bool(effects.restored_subscriptions),
    )


async def confirm_succeeded(
    session: AsyncSession,
    settings: Settings,
    payment_id: int,
    *,
    amount: int,
    currency: str,
    provider: PaymentProvider,
) -> CreditOutcome:
    """A provider event says the payment succeeded. A pending payment is credited; one we
    saw cancelled, failed or expired is credited only if the provider's own record says
    succeeded."""
    payment = await repository.lock(session, payment_id)
    if payment is None:
        raise PaymentNotFound()
    if payment.status in (PaymentStatus.cancelled, PaymentStatus.failed, PaymentStatus.expired):
        assert payment.provider_payment_id is not None
        state = await provider.fetch(payment.provider_payment_id)
        if state.status is not PaymentStatus.succeeded:
            log.info("success event not confirmed", payment_id=payment.id, state=state.status)
            return CreditOutcome(payment, credited=False)
        amount, currency = state.amount, state.currency
    return await credit(session, settings, payment.id, amount=amount, currency=currency)


async def cancel(session: AsyncSession, payment_id: int, *, reason: str) -> Ack:
    """The provider says the payment will not be paid: only a pending payment changes."""
    payment = await repository.lock(session, payment_id)
    if payment is None:
        raise PaymentNotFound()
    if payment.status is not PaymentStatus.pending:
        return "unchanged"
    payment.status = PaymentStatus.cancelled
    await audit.record(session, "payment.cancelled", SYSTEM, "payment", payment.id, reason=reason)
    return "cancelled"


async def expire(session: AsyncSession, payment_id: int, *, reason: str) -> Ack:
    """Nobody paid in time (PAYMENT_PENDING_EXPIRE_HOURS): only a pending payment changes. A
    provider that reports it paid later is still believed (confirm_succeeded, credit)."""
    payment = await repository.lock(session, payment_id)
    if payment is None:
        raise PaymentNotFound()
    if payment.status is not PaymentStatus.pending:
        return "unchanged"
    payment.status = PaymentStatus.expired
    await audit.record(session, "payment.expired", SYSTEM, "payment", payment.id, reason=reason)
    return "expired"


def _parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()[:5]
        ]
        raise InvalidPayload(problems=problems) from exc


async def handle_sandbox_webhook(
    session: AsyncSession, settings: Settings, body: bytes, signature: str | None
) -> Ack:
    """Verify the HMAC over the raw body, then act on the signed event."""
    if not sandbox.enabled(settings):
        raise NotFound()
    secret = settings.sandbox_webhook_secret.get_secret_value()
    if not sandbox.signature_valid(secret, body, signature):
        log.warning("sandbox webhook with a bad signature")
        raise InvalidSignature()
    event = _parse(SandboxEvent, body)
    payment = await repository.by_provider_id(session, sandbox.NAME, event.payment_id)
    if payment is None:
        log.info("sandbox webhook for an unknown payment")
        return "ignored"
    if event.event == "payment.canceled":
        return await cancel(session, payment.id, reason="sandbox_declined")
    outcome = await confirm_succeeded(
        session,
        settings,
        payment.id,
        amount=event.amount,
        currency=event.currency,
        provider=providers.get_provider(sandbox.NAME, settings, session),
    )
    return outcome.ack


async def handle_yookassa_notification(
    session: AsyncSession, settings: Settings, body: bytes, client_ip: str | None
) -> Ack:
    """Accept only YooKassa's addresses, then believe nothing in the body but the payment
    id: the payment's state and amount come from `GET /payments/{id}`. Unknown payments are
    acknowledged (so YooKassa stops retrying) and change nothing."""
    if not yookassa.source_allowed(settings, client_ip):
        log.warning("yookassa notification from a foreign address", ip=client_ip)
        raise SourceNotAllowed()
    note = _parse(YooKassaNotification, body)
    if note.event.startswith("refund."):
        return await _yookassa_refund(session, settings, note.object.id)
    payment = await repository.by_provider_id(session, yookassa.NAME, note.object.id)
    if payment is None:
        log.info("yookassa notification for an unknown payment", kind=note.event)
        return "ignored"
    provider = providers.get_provider(yookassa.NAME, settings, session)
    state = await provider.fetch(note.object.id)
    if state.status is PaymentStatus.succeeded:
        outcome = await credit(
            session, settings, payment.id, amount=state.amount, currency=state.currency
        )
        return outcome.ack
    if state.status is PaymentStatus.cancelled:
        return await cancel(session, payment.id, reason="yookassa_canceled")
    return "pending"


# --- refunds ---------------------------------------------------------------------------------


async def _yookassa_refund(session: AsyncSession, settings: Settings, refund_id: str) -> Ack:
    """A refund notification: nothing in the body but the refund id is believed; the refund
    (its payment, status and amount) comes from `GET /refunds/{id}`."""
    provider = yookassa.YooKassaProvider(settings)
    try:
        refund = await provider.fetch_refund(refund_id)
    except NotFoundAtProvider:
        log.warning("yookassa refund notification for an unknown refund")
        return "ignored"
    if not refund.succeeded:
        return "pending"
    payment = await repository.by_provider_id(session, yookassa.NAME, refund.provider_payment_id)
    if payment is None:
        log.info("yookassa refund of a payment made elsewhere")
        return "ignored"
    return await record_refund(session, settings, payment.id, refund, provider=provider)


def _refund_reference(provider: str, refund_id: str) -> str:
    reference = f"{provider}:{refund_id}"
    if len(reference) > 128:  # the ledger's reference column; real ids are far shorter
        reference = f"{provider}:sha256:{hashlib.sha256(reference.encode()).hexdigest()}"
    return reference


async def record_refund(
    session: AsyncSession,
    settings: Settings,
    payment_id: int,
    refund: RefundState,
    *,
    provider: PaymentProvider,
) -> Ack:
    """Debit a refund the provider made (verified: its own record) exactly once per refund
    id. The money has left already, so the debit is posted even when it takes the balance
    below zero; the billing run blocks a debtor as usual."""
    payment = await repository.lock(session, payment_id)
    if payment is None:
        raise PaymentNotFound()
    if await repository.refund_by_provider_id(session, payment.provider, refund.id) is not None:
        return "duplicate"
    if payment.status is not PaymentStatus.succeeded:
        # Its own notification was lost: a provider refunds only paid payments. Credit the
        # payment first, as the provider's record of it says.
        assert payment.provider_payment_id is not None
        state = await provider.fetch(payment.provider_payment_id)
        if state.status is not PaymentStatus.succeeded:
            log.error("refund of a payment its provider calls unpaid", payment_id=payment.id)
            return "ignored"
        outcome = await credit(
            session, settings, payment.id, amount=state.amount, currency=state.currency
        )
        if outcome.payment.status is not PaymentStatus.succeeded:
            return "ignored"  # the amounts disagree: failed, for a person to look at
        payment = outcome.payment
    left = payment.amount - payment.refunded_amount
    if refund.currency != payment.currency or not 0 < refund.amount <= left:
        log.error(
            "refund does not fit its payment",
            payment_id=payment.id,
            refund_amount=refund.amount,
            left=left,
        )
        await audit.record(
            session,
            "payment.refund_refused",
            SYSTEM,
            "payment",
            payment.id,
            provider_refund_id=refund.id,
            amount=refund.amount,
            currency=refund.currency,
            refundable=left,
        )
        return "ignored"
    txn, _ = await ledger.post(
        session,
        customer_id=payment.customer_id,
        amount=-refund.amount,
        reason=TransactionReason.refund,
        reference_kind="payment_refund",
        reference=_refund_reference(payment.provider, refund.id),
        description=f"refund via {payment.provider}",
        currency=payment.currency,
    )
    await repository.add_refund(
        session,
        PaymentRefund(
            payment_id=payment.id,
            provider=payment.provider,
            provider_refund_id=refund.id,
            amount=refund.amount,
            currency=refund.currency,
            transaction_id=txn.id,
        ),
    )
    payment.refunded_amount = payment.refunded_amount + refund.amount
    await audit.record(
        session,
        "payment.refunded",
        SYSTEM,
        "payment",
        payment.id,
        customer_id=payment.customer_id,
        provider=payment.provider,
        provider_refund_id=refund.id,
        amount=refund.amount,
        currency=refund.currency,
        refunded_amount=payment.refunded_amount,
        transaction_id=txn.id,
    )
    return "refunded"


# --- the sandbox checkout page --------------------------------------------------------------


async def sandbox_payment(
    session: AsyncSession, settings: Settings, provider_payment_id: str
) -> Payment:
    if not sandbox.enabled(settings):
        raise PaymentNotFound()
    payment = await repository.by_provider_id(session, sandbox.NAME, provider_payment_id)
    if payment is None:
        raise PaymentNotFound()
    return payment


async def sandbox_decide(
    session: AsyncSession,
    settings: Settings,
    provider_payment_id: str,
    form_token: str,
    *,
    pay: bool,
) -> tuple[Payment, bytes | None]:
    """The sandbox provider's side of Pay / Decline. Returns the payment and the signed
    event to deliver to the webhook (None when the decision changes nothing). Pressing
    the same button again re-sends the event, so a lost webhook can be repeated."""
    if not sandbox.enabled(settings):
        raise PaymentNotFound()
    payment = await repository.lock_by_provider_id(session, sandbox.NAME, provider_payment_id)
    if payment is None:
        raise PaymentNotFound()
    if not sandbox.form_token_matches(payment, form_token):
        raise InvalidFormToken()
    state = sandbox.state_of(payment).get("state")
    if pay:
        if state == "canceled":
            return payment, None
        if state != "succeeded":
            sandbox.set_state(payment, "succeeded")
            await audit.record(session, "payment.sandbox_paid", SYSTEM, "payment", payment.id)
        return payment, sandbox.event_body(payment, "payment.succeeded")
    if state == "succeeded":
        return payment, None
    if state != "canceled":
        sandbox.set_state(payment, "canceled")
        await audit.record(session, "payment.sandbox_declined", SYSTEM, "payment", payment.id)
    return payment, sandbox.event_body(payment, "payment.canceled")


# --- Telegram Payments ----------------------------------------------------------------------


async def create_telegram_payment(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    amount: int | None,
    *,
    invoice_id: int | None = None,
    actor: Actor | None = None,
    locale: str | None = None,
) -> TelegramInvoice:
    """A pending payment to be paid with a Telegram invoice, and what `bot.send_invoice`
    needs for it (plus `provider_token=settings.telegram_payments_provider_token`)."""
    if not telegram.enabled(settings):
        raise ProviderNotConfigured("Telegram payments are not configured")
    amount, currency, invoice = await _payable(
        session, settings, customer_id, amount, invoice_id, None
    )
    customer = await repository.customer(session, customer_id)
    if customer is None:
        raise PayerNotFound()
    payment = await _new_payment(
        session,
        customer_id=customer_id,
        provider=telegram.NAME,
        amount=amount,
        currency=currency,
        invoice=invoice,
        idempotency_key=None,
    )
    payload = telegram.payload_for(payment)
    lang = locale or customer.locale
    payment.details = {"telegram": {"payload": payload}}
    await audit.record(
        session,
        "payment.created",
        actor,
        "payment",
        payment.id,
        public_id=payment.public_id,
        provider=telegram.NAME,
        amount=amount,
        currency=currency,
        invoice_id=payment.invoice_id,
    )
    return TelegramInvoice(
        payment_id=payment.public_id,
        # Telegram's limits: a title of 1-32 characters, a description of 1-255
        title=t("payments-telegram-invoice-title", lang)[:32],
        description=t(
            "payments-telegram-invoice-description", lang, contract=customer.contract_number
        )[:255],
        payload=payload,
        currency=currency,
        prices=[TelegramPrice(label=t("payments-telegram-price-label", lang), amount=amount)],
    )


async def validate_pre_checkout(
    session: AsyncSession, payload: str, currency: str, total_amount: int
) -> tuple[bool, PreCheckoutError | None]:
    """Whether Telegram may take the money for this invoice (answer within 10 seconds)."""
    public_id = telegram.public_id_from(payload)
    payment = await repository.by_public_id(session, public_id) if public_id else None
    if payment is None or payment.provider != telegram.NAME:
        return False, "payment_not_found"
    if payment.status is PaymentStatus.succeeded:
        return False, "payment_already_paid"
    if payment.status is not PaymentStatus.pending:
        return False, "payment_not_payable"
    if currency != payment.currency:
        return False, "payment_currency_mismatch"
    if isinstance(total_amount, bool) or total_amount != payment.amount:
        return False, "payment_amount_mismatch"
    return True, None


async def credit_successful_payment(
    session: AsyncSession,
    settings: Settings,
    payload: str,
    telegram_payment_charge_id: str,
    provider_payment_charge_id: str,
    total_amount: int,
    currency: str,
    chat_id: int | None = None,
) -> CreditOutcome:
    """Credit a Telegram `successful_payment` exactly once per telegram_payment_charge_id,
    however often the update arrives. The charge is money already taken, so a second charge
    for an invoice that was already paid (two pre-checkouts raced) is credited too, as a
    payment of its own. The bot answers in `chat_id` with the credit, so the notice is marked
    as told there."""
    told_in = {"telegram": str(chat_id)} if chat_id is not None else None
    charge_id = telegram_payment_charge_id
    if not charge_id or len(charge_id) > 128 or not charge_id.isprintable():
        raise InvalidPayload("telegram_payment_charge_id is malformed")
    known = await repository.by_provider_id(session, telegram.NAME, charge_id)
    if known is not None:
        return await credit(
            session, settings, known.id, amount=total_amount, currency=currency, told_in=told_in
        )
    public_id = telegram.public_id_from(payload)
    payment = await repository.lock_by_public_id(session, public_id) if public_id else None
    if payment is None or payment.provider != telegram.NAME:
        log.error("telegram payment for an unknown payload", charge_id=charge_id)
        raise PaymentNotFound()
    # Another delivery of this charge may have recorded it while we waited for the lock.
    known = await repository.by_provider_id(session, telegram.NAME, charge_id)
    if known is not None:
        return await credit(
            session, settings, known.id, amount=total_amount, currency=currency, told_in=told_in
        )
    charge = {"provider_payment_charge_id": provider_payment_charge_id[:128]}
    if payment.provider_payment_id is None:
        payment.provider_payment_id = charge_id
        payment.details = {**(payment.details or {}), "telegram": {**_telegram(payment), **charge}}
        await session.flush()
        return await credit(
            session, settings, payment.id, amount=total_amount, currency=currency, told_in=told_in
        )
    twin = await _new_payment(
        session,
        customer_id=payment.customer_id,
        provider=telegram.NAME,
        amount=payment.amount,
        currency=payment.currency,
        invoice=None,
        idempotency_key=None,
    )
    twin.provider_payment_id = charge_id
    twin.details = {"telegram": {"payload": payload, **charge, "duplicate_of": payment.public_id}}
    await session.flush()
    await audit.record(
        session,
        "payment.duplicate_charge",
        SYSTEM,
        "payment",
        twin.id,
        original_payment_id=payment.id,
        amount=total_amount,
        currency=currency,
    )
    return await credit(
        session, settings, twin.id, amount=total_amount, currency=currency, told_in=told_in
    )


def _telegram(payment: Payment) -> dict[str, Any]:
    value = (payment.details or {}).get("telegram")
    return dict(value) if isinstance(value, dict) else {}
