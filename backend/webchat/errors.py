"""Errors of the web chat: its agent API, the Rasa action bridge and the socket's `identify`."""

from __future__ import annotations

from backend.errors import (
    AppError,
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


class ConsentRequired(WebchatError, Forbidden):
    """`identify` before the visitor agreed to the processing of personal data (152-FZ): the
    widget asks first (the `consent` frame)."""

    code = "consent_required"
    detail = "the visitor has not agreed to the processing of personal data yet"


class VisitorTokenInvalid(WebchatError, InvalidToken):
    code = "visitor_token_invalid"
    detail = "a valid X-Visitor-Token header is required"


class FileNotFound(WebchatError, NotFound):
    """No such upload in this visitor's conversation (another visitor's is not found either)."""

    code = "file_not_found"
    detail = "no such file in this conversation"


class FileTooLarge(WebchatError, AppError):
    code = "file_too_large"
    status = 413
    detail = "the file is larger than allowed"


class FileTypeNotAllowed(WebchatError, AppError):
    code = "file_type_not_allowed"
    status = 415
    detail = "only JPEG, PNG, WebP, GIF, PDF and plain text files are accepted"


class NoFile(WebchatError, ValidationFailed):
    code = "file_missing"
    detail = "send one file in the multipart field 'file'"


class CannedResponseNotFound(WebchatError, NotFound):
    code = "canned_response_not_found"
    detail = "no such canned response (or it is switched off)"
