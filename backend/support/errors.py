"""Errors of support tickets."""

from __future__ import annotations

from backend.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed


class SupportError(DomainError):
    """Errors of support."""


class TicketNotFound(SupportError, NotFound):
    detail = "ticket not found"


class TicketClosed(SupportError, Conflict):
    code = "ticket_closed"
    detail = "the ticket is closed; open a new one"


class InvalidTransition(SupportError, Conflict):
    code = "invalid_transition"
    detail = "this status change is not allowed"


class InvalidAssignee(SupportError, ValidationFailed):
    code = "invalid_assignee"
    detail = "the assignee must be an active agent or admin"


class InternalNoteForbidden(SupportError, Forbidden):
    detail = "internal notes are for support staff only"
