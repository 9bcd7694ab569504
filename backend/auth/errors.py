"""Errors of sign-up, sign-in recovery, account administration and staff 2FA enrolment
(docs/security.md)."""

from __future__ import annotations

from backend.errors import (
    Conflict,
    Forbidden,
    InvalidOtp,
    InvalidToken,
    ServiceUnavailable,
    ValidationFailed,
)


class CannotDeactivateSelf(Conflict):
    code = "cannot_deactivate_self"
    detail = "admins cannot deactivate their own account"


class LastActiveAdmin(Conflict):
    code = "last_active_admin"
    detail = "the last active admin cannot be deactivated"


class EnrolmentLinkRequired(Forbidden):
    code = "enrolment_link_required"
    detail = (
        "agents and admins enrol two-factor authentication with an enrolment link from an admin"
    )


class InvalidEnrolmentLink(InvalidToken):
    code = "invalid_enrolment_link"
    detail = "the enrolment link is wrong, expired, replaced or already used"


class EnrolmentNotApplicable(Conflict):
    code = "enrolment_not_applicable"
    detail = (
        "an enrolment link is only for an active agent or admin without two-factor authentication"
    )


class AlreadyRegistered(Conflict):
    code = "already_registered"
    detail = "an account with this email or phone already exists"


class WeakPassword(ValidationFailed):
    code = "weak_password"


class InvalidResetCode(InvalidOtp):
    code = "invalid_reset_code"
    detail = "the recovery code is wrong or expired"


class RecoveryChannelUnavailable(ServiceUnavailable):
    code = "recovery_channel_unavailable"
    detail = "password recovery is unavailable: no email or SMS delivery is configured"
