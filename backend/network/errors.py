"""Errors of known network outages."""

from __future__ import annotations

from backend.errors import Conflict, DomainError


class OutageError(DomainError):
    """Errors of the network domain (outages; not a connection failure)."""


class OutageNotOpen(OutageError, Conflict):
    code = "outage_not_open"
    detail = "the outage is already resolved"
