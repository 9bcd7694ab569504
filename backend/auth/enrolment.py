"""Staff TOTP enrolment with an admin-issued enrolment link.

An agent or admin without 2FA signs in only as far as the mfa-pending step (`mfa_token`). With
that token and the link's token they get a TOTP secret (`start`) and then, with a code from the
authenticator app, turn 2FA on and get a session with the second factor (`confirm`), which uses
up the link. Without a link there is no way in: trust on first use would let anyone who learnt a
staff password enrol their own authenticator (docs/security.md)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.auth import admin_repository, repository, service, totp
from backend.auth.errors import EnrolmentLinkRequired, EnrolmentNotApplicable, InvalidEnrolmentLink
from backend.auth.schemas import TotpConfirmOut, TotpEnrollOut
from backend.auth.tokens import decode_token, hash_opaque
from backend.clock import utcnow
from backend.errors import Conflict, InvalidToken
from backend.models import EnrolmentLink, Role, User
from backend.state import Resources

STAFF_ROLES = (Role.agent, Role.admin)


async def _pending_staff(
    session: AsyncSession, res: Resources, mfa_token: str, enrolment_token: str | None
) -> tuple[User, EnrolmentLink]:
    pending = decode_token(res.settings, mfa_token, "mfa")
    user = await repository.user_by_id(session, pending.user_id)
    if user is None or not user.is_active:
        raise InvalidToken()
    if user.role not in STAFF_ROLES:
        raise EnrolmentNotApplicable("customers enrol at /auth/2fa/enroll")
    if user.totp_enabled:
        raise Conflict("two-factor authentication is already enabled")
    if not enrolment_token:
        raise EnrolmentLinkRequired()
    link = await admin_repository.live_enrolment_link(
        session, user.id, hash_opaque(enrolment_token), utcnow()
    )
    if link is None:
        await service.security_event(session, res, "auth.enrolment_link_rejected", user)
        raise InvalidEnrolmentLink()
    return user, link


async def start(
    session: AsyncSession, res: Resources, mfa_token: str, enrolment_token: str | None
) -> TotpEnrollOut:
    user, link = await _pending_staff(session, res, mfa_token, enrolment_token)
    secret = totp.new_secret()
    user.totp_secret_encrypted = totp.encrypt_secret(res.settings, secret)
    user.totp_last_timecode = None
    await audit.record(
        session,
        "auth.totp_enroll_started",
        Actor(user.id, user.role),
        "user",
        user.id,
        link_id=link.id,
    )
    return TotpEnrollOut(
        secret=secret,
        provisioning_uri=totp.provisioning_uri(secret, user.email or user.phone or str(user.id)),
    )


async def confirm(
    session: AsyncSession,
    res: Resources,
    mfa_token: str,
    enrolment_token: str | None,
    code: str,
) -> TotpConfirmOut:
    user, link = await _pending_staff(session, res, mfa_token, enrolment_token)
    if user.totp_secret_encrypted is None:
        raise Conflict("start with /auth/2fa/enrolment/start")
    now = utcnow()
    # Used up before the code is checked; a wrong code rolls the request back, link included.
    if not await admin_repository.consume_enrolment_link(session, link.id, now):
        raise InvalidEnrolmentLink()
    await service._check_second_factor(session, res, user, code, None)
    user.totp_enabled = True
    codes = totp.new_recovery_codes()
    await repository.replace_recovery_codes(
        session, user.id, [totp.hash_recovery_code(c) for c in codes]
    )
    # Password-only sessions from before links were required end here.
    families = await repository.live_families(session, user.id, now)
    await repository.revoke_user_families(session, user.id, now)
    actor = Actor(user.id, user.role)
    await audit.record(session, "auth.totp_enabled", actor, "user", user.id, link_id=link.id)
    await audit.record(session, "auth.login", actor, "user", user.id, amr="pwd,otp")
    tokens = await service.issue_tokens(session, res, user, ("pwd", "otp"))
    await res.revocations.revoke(families, res.settings.access_token_minutes * 60 + 60)
    return TotpConfirmOut(recovery_codes=codes, tokens=tokens)
