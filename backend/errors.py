"""One error hierarchy. The API renders `{"error": code, "detail": ...}`; the bot and the widget
render the localized text of `error-<code>`."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    detail: str = "request failed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or type(self).detail
        self.extra = extra
        super().__init__(self.detail)


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
