"""Account administration by admins: deactivation, reactivation, staff 2FA enrolment links and
staff display names.

Deactivation takes effect at once in every process: the sessions are revoked and the user is
blocked in the revocation list (Redis, mirrored in each process's memory), which every request
checks, while sign-in, refresh and 2FA check `users.is_active` (docs/security.md)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.auth import admin_repository, repository
from backend.auth.admin_schemas import EnrolmentLinkOut
from backend.auth.errors import (
    CannotDeactivateSelf,
    DisplayNameNotApplicable,
    EnrolmentNotApplicable,
    LastActiveAdmin,
)
from backend.auth.tokens import Principal, hash_opaque, new_opaque_token
from backend.clock import utcnow
from backend.customers import linking
from backend.customers.linking import ConversationAccess
from backend.errors import NotFound
from backend.models import EnrolmentLink, Role, User
from backend.state import Resources

STAFF_ROLES = (Role.agent, Role.admin)


def _actor(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, role=principal.role)


def _deny_seconds(res: Resources) -> int:
    """How long a deny-list entry must last: longer than any access token issued before it (or
    by a sign-in racing it, which finishes within the extra minute) can live."""
    return res.settings.access_token_minutes * 60 + 60


async def _user(session: AsyncSession, user_id: int) -> User:
    user = await repository.user_by_id(session, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


async def _end_sessions(session: AsyncSession, res: Resources, user: User) -> None:
    """Revoke every refresh-token family of the user and deny their access tokens."""
    now = utcnow()
    since = now - timedelta(seconds=_deny_seconds(res))
    families = await admin_repository.families_with_live_access(session, user.id, since)
    await repository.revoke_user_families(session, user.id, now)
    await res.revocations.revoke(families, _deny_seconds(res))


async def deactivate(
    session: AsyncSession,
    res: Resources,
    admin: Principal,
    user_id: int,
    *,
    conversations: ConversationAccess,
) -> User:
    if user_id == admin.user_id:
        raise CannotDeactivateSelf()
    user = await _user(session, user_id)
    if user.role is Role.admin and user.is_active:
        active_admins = await admin_repository.lock_active_admin_ids(session)
        if not [i for i in active_admins if i != user.id]:
            raise LastActiveAdmin()
    was_active = user.is_active
    user.is_active = False
    await _end_sessions(session, res, user)
    if user.role is Role.customer:
        # the bot and the widget speak for the customer too: every chat of theirs goes anonymous
        customer_id = await repository.customer_id_for_user(session, user.id)
        if customer_id is not None:
            await linking.cut_customer_access(
                session, customer_id, _actor(admin), conversations=conversations
            )
    # Before the commit: from the moment the database says inactive, no token works.
    await res.revocations.block_user(user.id, _deny_seconds(res))
    if was_active:
        await audit.record(session, "user.deactivated", _actor(admin), "user", user.id)
    await session.flush()
    return user


async def reactivate(session: AsyncSession, res: Resources, admin: Principal, user_id: int) -> User:
    user = await _user(session, user_id)
    if user.is_active:
        return user
    user.is_active = True
    # A sign-in that raced the deactivation may have left a session behind: old tokens stay dead.
    await _end_sessions(session, res, user)
    await audit.record(session, "user.reactivated", _actor(admin), "user", user.id)
    await session.flush()
    await res.revocations.unblock_user(user.id)
    return user


async def issue_enrolment_link(
    session: AsyncSession, res: Resources, admin: Principal, user_id: int
) -> EnrolmentLinkOut:
    """A single-use, short-lived permission for a staff user without 2FA to enrol it; a new link
    voids the user's older ones."""
    user = await _user(session, user_id)
    if user.role not in STAFF_ROLES:
        raise EnrolmentNotApplicable("customers enrol their own two-factor authentication")
    if not user.is_active:
        raise EnrolmentNotApplicable("the account is deactivated")
    if user.totp_enabled:
        raise EnrolmentNotApplicable("the account already has two-factor authentication")
    now = utcnow()
    await admin_repository.revoke_enrolment_links(session, user.id, now)
    token = new_opaque_token()
    link = EnrolmentLink(
        user_id=user.id,
        token_hash=hash_opaque(token),
        issued_by=admin.user_id,
        expires_at=now + timedelta(hours=res.settings.enrolment_link_hours),
    )
    session.add(link)
    await session.flush()
    await audit.record(
        session,
        "auth.enrolment_link_issued",
        _actor(admin),
        "user",
        user.id,
        link_id=link.id,
        expires_at=link.expires_at.isoformat(),
    )
    return EnrolmentLinkOut(user_id=user.id, token=token, expires_at=link.expires_at)


async def set_display_name(
    session: AsyncSession, admin: Principal, user_id: int, display_name: str | None
) -> User:
    """The name customers see when this agent or admin joins their conversation; None removes
    it. Customers have none: their name is the customer record's."""
    user = await _user(session, user_id)
    if user.role not in STAFF_ROLES:
        raise DisplayNameNotApplicable()
    if user.display_name != display_name:
        before, user.display_name = user.display_name, display_name
        await audit.record(
            session,
            "user.display_name_set",
            _actor(admin),
            "user",
            user.id,
            before=before,
            after=display_name,
        )
        await session.flush()
    return user
