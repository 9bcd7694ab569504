"""Errors of payments: creating a top-up, the providers, and the notifications they send.

The payments API names what is missing by its own code (`payment_not_found`,
`invoice_not_found`, `customer_not_found`) where the rest of the API says `not_found`: the
checkout and the bot phrase each one."""

from __future__ import annotations

from backend.billing.errors import InvoiceNotFound
from backend.customers.errors import CustomerNotFound
from backend.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)


class PaymentError(DomainError):
    """Errors of payments."""


# --- a new top-up -----------------------------------------------------------------------------


class PaymentNotFound(PaymentError, NotFound):
    code = "payment_not_found"
    detail = "payment not found"


class PayerNotFound(PaymentError, CustomerNotFound):
    """The customer to top up does not exist: CustomerNotFound with the payments API's code."""

    code = "customer_not_found"


class InvoiceToPayNotFound(PaymentError, InvoiceNotFound):
    """The invoice to pay does not exist (or is not the customer's): InvoiceNotFound with the
    payments API's code."""

    code = "invoice_not_found"


class InvoiceNotPayable(PaymentError, Conflict):
    code = "invoice_not_payable"
    detail = "the invoice is not pending"


class AmountRequired(PaymentError, ValidationFailed):
    code = "amount_required"
    detail = "amount is required unless an invoice is paid"


class AmountOutOfRange(PaymentError, ValidationFailed):
    code = "amount_out_of_range"
    detail = "the amount is outside the allowed top-up range"


class UnsupportedCurrency(PaymentError, ValidationFailed):
    code = "unsupported_currency"
    detail = "payments are accepted in the account's currency only"


class InvalidReturnUrl(PaymentError, ValidationFailed):
    code = "invalid_return_url"
    detail = "return_url must be an http(s) URL on this service's host"


class CustomerIdRequired(PaymentError, ValidationFailed):
    code = "customer_id_required"
    detail = "staff must name the customer: ?customer_id="


# --- providers --------------------------------------------------------------------------------


class UnknownProvider(PaymentError, ValidationFailed):
    code = "unknown_provider"
    detail = "unknown payment provider"


class ProviderNotConfigured(PaymentError, ValidationFailed):
    code = "provider_disabled"
    detail = "this payment provider is not enabled"


class ProviderUnavailable(PaymentError, ServiceUnavailable):
    code = "provider_unavailable"
    detail = "the payment provider did not answer; try again shortly"


class NotFoundAtProvider(ProviderUnavailable):
    """YooKassa answered 404: it has no such object (a forged or foreign id)."""


# --- notifications and the checkout form ------------------------------------------------------


class InvalidSignature(PaymentError, NotAuthenticated):
    code = "invalid_signature"
    detail = "the webhook signature is missing or wrong"


class InvalidPayload(PaymentError, BadRequest):
    code = "invalid_payload"
    detail = "the notification body is malformed"


class SourceNotAllowed(PaymentError, Forbidden):
    code = "source_not_allowed"
    detail = "notifications are accepted from the provider's addresses only"


class InvalidFormToken(PaymentError, Forbidden):
    code = "invalid_form_token"
    detail = "the checkout form is stale or forged; reload the page"
