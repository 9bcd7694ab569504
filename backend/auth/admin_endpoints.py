"""Account administration (admins only) and staff 2FA enrolment with an admin's link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from backend.auth import admin, enrolment
from backend.auth.admin_schemas import (
    AdminUserOut,
    AdminUserPatchIn,
    EnrolmentLinkOut,
    StaffEnrolConfirmIn,
    StaffEnrolStartIn,
)
from backend.auth.schemas import TotpConfirmOut, TotpEnrollOut
from backend.deps import ConversationsDep, CurrentAdmin, ResourcesDep, SessionDep

router = APIRouter(prefix="/admin/users", tags=["admin"])
enrolment_router = APIRouter(prefix="/auth/2fa/enrolment", tags=["auth"])

UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.patch("/{user_id}")
async def update_user(
    user_id: UserId, data: AdminUserPatchIn, principal: CurrentAdmin, session: SessionDep
) -> AdminUserOut:
    """Set an agent's or admin's `display_name`, shown to customers when they join a
    conversation (409 `display_name_not_applicable` for customers). Audited."""
    user = await admin.set_display_name(session, principal, user_id, data.display_name)
    return AdminUserOut.model_validate(user)


@router.post("/{user_id}/deactivate")
async def deactivate_user(
    user_id: UserId,
    principal: CurrentAdmin,
    session: SessionDep,
    res: ResourcesDep,
    conversations: ConversationsDep,
) -> AdminUserOut:
    """Deactivate an account: its access and refresh tokens stop working at once, in every
    process, and it cannot sign in. Not your own account, nor the last active admin."""
    user = await admin.deactivate(session, res, principal, user_id, conversations=conversations)
    return AdminUserOut.model_validate(user)


@router.post("/{user_id}/reactivate")
async def reactivate_user(
    user_id: UserId, principal: CurrentAdmin, session: SessionDep, res: ResourcesDep
) -> AdminUserOut:
    """Let a deactivated account sign in again. Its old tokens stay revoked."""
    user = await admin.reactivate(session, res, principal, user_id)
    return AdminUserOut.model_validate(user)


@router.post("/{user_id}/enrolment-link", status_code=status.HTTP_201_CREATED)
async def issue_enrolment_link(
    user_id: UserId, principal: CurrentAdmin, session: SessionDep, res: ResourcesDep
) -> EnrolmentLinkOut:
    """A single-use enrolment token for an agent or admin without 2FA, valid
    `ENROLMENT_LINK_HOURS`. A new one voids the previous. Shown once: pass it on securely."""
    return await admin.issue_enrolment_link(session, res, principal, user_id)


@enrolment_router.post("/start")
async def start_staff_enrolment(
    data: StaffEnrolStartIn, session: SessionDep, res: ResourcesDep
) -> TotpEnrollOut:
    """Staff: the `mfa_token` from /auth/login and the admin's `enrolment_token` give a TOTP
    secret and an otpauth:// URI for an authenticator app."""
    return await enrolment.start(session, res, data.mfa_token, data.enrolment_token)


@enrolment_router.post("/confirm")
async def confirm_staff_enrolment(
    data: StaffEnrolConfirmIn, session: SessionDep, res: ResourcesDep
) -> TotpConfirmOut:
    """Staff: a code from the app turns 2FA on, uses up the link, and returns recovery codes
    and a session with the second factor."""
    return await enrolment.confirm(session, res, data.mfa_token, data.enrolment_token, data.code)
