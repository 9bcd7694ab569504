"""Errors of the web chat's agent API and the Rasa action bridge."""

from __future__ import annotations

from backend.errors import DomainError, InvalidToken, NotFound, ServiceUnavailable, ValidationFailed


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
