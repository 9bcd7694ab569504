"""Errors of the web chat: its agent API, the Rasa action bridge and the socket's `identify`."""

from __future__ import annotations

from backend.errors import (
    DomainError,
    Forbidden,
    InvalidToken,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)


class WebchatError(DomainError):
    """Errors of the web chat."""


class AttachmentNotFound(WebchatError, NotFound):
    code = "attachment_not_found"
    detail = "no such attachment in this conversation"


class RasaNotInstalled(WebchatError, ServiceUnavailable):
    code = "rasa_sdk_not_installed"
    detail = "the Rasa bridge needs the optional extra: pip install 'provider-desk[rasa]'"


class RasaBridgeDisabled(WebchatError, ServiceUnavailable):
    code = "rasa_bridge_disabled"
    detail = "the Rasa bridge is off: set RASA_WEBHOOK_TOKEN to serve it"


class InvalidRasaToken(WebchatError, InvalidToken):
    detail = "a valid Rasa webhook token is required"


class InvalidActionCall(WebchatError, ValidationFailed):
    detail = "the body is not a Rasa action call"


class InvalidCustomerToken(WebchatError, InvalidToken):
    """An `identify` frame's token is garbage, expired or of a signed-out session: the host page
    should sign in again or pass a fresh token."""

    code = "identify_token_invalid"
    detail = "the access token is invalid, expired or revoked"


class NotACustomerToken(WebchatError, Forbidden):
    """A valid token that speaks for no customer (staff, or a customer account without a
    contract): a web chat conversation speaks for customers only."""

    code = "identify_not_customer"
    detail = "only a customer's access token identifies a web chat visitor"
