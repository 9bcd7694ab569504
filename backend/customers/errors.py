"""Errors of customer records, their devices and their erasure (docs/security.md)."""

from __future__ import annotations

from backend.errors import Conflict, DomainError, NotFound


class CustomerError(DomainError):
    """Errors of customers."""


class CustomerNotFound(CustomerError, NotFound):
    """No such customer (or one the caller may not see). The generic `not_found` code: the
    payments API names it `customer_not_found` (backend.payments.errors.PayerNotFound)."""

    detail = "customer not found"


class DeviceNotFound(CustomerError, NotFound):
    detail = "device not found"


class ContractNumberTaken(CustomerError, Conflict):
    code = "contract_number_taken"
    detail = "this contract number is already in use"


class CustomerNotSettled(CustomerError, Conflict):
    code = "customer_not_settled"
    detail = "the customer still has money or service open; settle it before anonymising"


class CustomerAlreadyAnonymised(CustomerError, Conflict):
    code = "customer_already_anonymised"
    detail = "this customer's personal data was already removed"
