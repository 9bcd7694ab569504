"""Errors of broadcasts. They keep the generic codes (`not_found`, `conflict`,
`validation_error`): the admin API is their only reader, and its `detail` says which."""

from __future__ import annotations

from backend.errors import Conflict, DomainError, NotFound, ValidationFailed


class BroadcastError(DomainError):
    """Errors of broadcasts."""


class BroadcastNotFound(BroadcastError, NotFound):
    detail = "broadcast not found"


class BroadcastAlreadySent(BroadcastError, Conflict):
    detail = "the broadcast is already sent: nothing is left to cancel"


class InvalidBroadcast(BroadcastError, ValidationFailed):
    """A body that is well formed but names what is not there (an unknown tariff), lacks the
    default locale's text or is scheduled in the past."""

    detail = "the broadcast cannot be sent as given"
