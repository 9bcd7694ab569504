"""Errors of customer documents: finding them, generating them and their stored files."""

from __future__ import annotations

from backend.errors import Conflict, DomainError, NotFound, ServiceUnavailable, ValidationFailed


class DocumentError(DomainError):
    """Errors of documents."""


class DocumentNotFound(DocumentError, NotFound):
    detail = "document not found"


class InvalidPeriod(DocumentError, ValidationFailed):
    code = "invalid_period"
    detail = "the period is not valid"


class NothingToInvoice(DocumentError, Conflict):
    code = "nothing_to_invoice"
    detail = "the customer has no billable subscription in this period"


class DocumentCorrupted(DocumentError, Conflict):
    """The row exists but its file cannot be served as stored. 409 rather than 500: the
    request is fine, the stored state is not, and regenerating the document resolves it."""

    code = "document_corrupted"
    detail = "the document file is missing or damaged; it has to be generated again"


class StorageUnavailable(DocumentError, ServiceUnavailable):
    code = "storage_unavailable"
    detail = "document storage is unavailable, try again shortly"
