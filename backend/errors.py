"""One error hierarchy. The API renders `{"error": code, "detail": ...}`; the bot and the widget
render the localized text of `error-<code>`.

This module is the root: `AppError` and the HTTP kinds (NotFound, Conflict ...) that give an
error its status. A domain's own errors live in its `errors` module (backend.billing.errors ...),
each class defined once, subclassing the domain's marker (BillingError ...) and its HTTP kind.
Routes list the errors they can answer with as `responses=refusals(...)`, so clients find every
code in the OpenAPI document."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


class AppError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    detail: str = "request failed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or type(self).detail
        self.extra = extra
        super().__init__(self.detail)


class DomainError(Exception):
    """The base of a domain's marker (BillingError ...), so that `except BillingError` catches
    all of billing's errors. Not an AppError: a marker is never raised and has no code; each
    error takes its status and code from the HTTP kind it also subclasses, as in
    `class TariffNotFound(BillingError, NotFound)`."""


class BadRequest(AppError):
    code = "bad_request"
    status = 400


class ValidationFailed(AppError):
    code = "validation_error"
    status = 422


class NotAuthenticated(AppError):
    code = "not_authenticated"
    status = 401
    detail = "authentication required"


class InvalidToken(AppError):
    code = "invalid_token"
    status = 401
    detail = "token is invalid or expired"


class InvalidCredentials(AppError):
    code = "invalid_credentials"
    status = 401
    detail = "wrong login or password"


class MfaRequired(AppError):
    code = "mfa_required"
    status = 403
    detail = "two-factor authentication required"


class InvalidOtp(AppError):
    code = "invalid_otp"
    status = 401
    detail = "the code is wrong, expired or already used"


class Forbidden(AppError):
    code = "forbidden"
    status = 403
    detail = "not allowed"


class NotFound(AppError):
    code = "not_found"
    status = 404
    detail = "not found"


class Conflict(AppError):
    code = "conflict"
    status = 409
    detail = "conflicts with the current state"


class RateLimited(AppError):
    code = "rate_limited"
    status = 429
    detail = "too many attempts, try later"

    def __init__(self, detail: str | None = None, retry_after: int = 60) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    code = "service_unavailable"
    status = 503
    detail = "a backing service is unavailable"


class ErrorOut(BaseModel):
    """The body of every refusal (backend.error_handlers). Next steps a refusal offers
    (`amount_to_pay`, `available_from` ...) come as extra keys beside these two."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="the code; the bot and the widget show `error-<code>`")
    detail: Any = Field(description="for people; a list of problems for `validation_error`")


def error_key(code: str) -> str:
    """The catalog key of a code's text: `error-<code>` in kebab case."""
    return "error-" + code.replace("_", "-")


def refusals(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` for the errors a route answers with, one entry per status: the codes
    in its description and an example body for each, so a client reads them in OpenAPI instead
    of in prose."""
    by_status: dict[int, list[type[AppError]]] = {}
    for error in errors:
        listed = by_status.setdefault(error.status, [])
        if error not in listed:
            listed.append(error)
    return {
        status: {
            "model": ErrorOut,
            "description": "\n".join(f"- `{e.code}`: {e.detail}" for e in listed),
            "content": {
                "application/json": {
                    "examples": {
                        e.__name__: {
                            "summary": e.code,
                            "value": {"error": e.code, "detail": e.detail},
                        }
                        for e in listed
                    }
                }
            },
        }
        for status, listed in sorted(by_status.items())
    }
