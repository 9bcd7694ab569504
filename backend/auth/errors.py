"""Errors of account administration and staff 2FA enrolment (docs/security.md)."""

from __future__ import annotations

from backend.errors import Conflict, Forbidden, InvalidToken


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
