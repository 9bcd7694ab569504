"""Errors of known network outages."""

from __future__ import annotations

from backend.errors import Conflict, DomainError, InvalidToken, ServiceUnavailable, ValidationFailed


class OutageError(DomainError):
    """Errors of the network domain (outages; not a connection failure)."""


class OutageNotOpen(OutageError, Conflict):
    code = "outage_not_open"
    detail = "the outage is already resolved"


class AlertmanagerNotConfigured(OutageError, ServiceUnavailable):
    code = "alertmanager_not_configured"
    detail = "the Alertmanager receiver is off: set ALERTMANAGER_TOKEN to serve it"


class InvalidAlertmanagerToken(OutageError, InvalidToken):
    detail = "a valid Alertmanager bearer token is required"


class InvalidAlertPayload(OutageError, ValidationFailed):
    detail = "the body is not an Alertmanager webhook payload"
