"""Errors of sign-up, sign-in recovery, account administration and staff 2FA enrolment
(docs/security.md)."""

from __future__ import annotations

from backend.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidOtp,
    InvalidToken,
    ServiceUnavailable,
    ValidationFailed,
)


class AuthError(DomainError):
    """Errors of auth. The sign-in errors every route can answer with (InvalidToken,
    MfaRequired ...) are HTTP kinds in backend.errors."""


class CannotDeactivateSelf(AuthError, Conflict):
    code = "cannot_deactivate_self"
    detail = "admins cannot deactivate their own account"


class LastActiveAdmin(AuthError, Conflict):
    code = "last_active_admin"
    detail = "the last active admin cannot be deactivated"


class EnrolmentLinkRequired(AuthError, Forbidden):
    code = "enrolment_link_required"
    detail = (
        "agents and admins enrol two-factor authentication with an enrolment link from an admin"
    )


class InvalidEnrolmentLink(AuthError, InvalidToken):
    code = "invalid_enrolment_link"
    detail = "the enrolment link is wrong, expired, replaced or already used"


class EnrolmentNotApplicable(AuthError, Conflict):
    code = "enrolment_not_applicable"
    detail = (
        "an enrolment link is only for an active agent or admin without two-factor authentication"
    )


class DisplayNameNotApplicable(AuthError, Conflict):
    code = "display_name_not_applicable"
    detail = "display names are for agents and admins"


class AlreadyRegistered(AuthError, Conflict):
    code = "already_registered"
    detail = "an account with this email or phone already exists"


class WeakPassword(AuthError, ValidationFailed):
    code = "weak_password"


class InvalidResetCode(AuthError, InvalidOtp):
    code = "invalid_reset_code"
    detail = "the recovery code is wrong or expired"


class RecoveryChannelUnavailable(AuthError, ServiceUnavailable):
    code = "recovery_channel_unavailable"
    detail = "password recovery is unavailable: no email or SMS delivery is configured"
