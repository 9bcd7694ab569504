"""Queries of account administration: deactivation and staff enrolment links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import EnrolmentLink, RefreshToken, Role, User


async def lock_active_admin_ids(session: AsyncSession) -> list[int]:
    """The active admins, their rows locked in id order: two admins deactivating each other at
    once are serialised (and cannot deadlock), so the second sees the first's change."""
    rows = await session.scalars(
        select(User.id)
        .where(User.role == Role.admin, User.is_active.is_(True))
        .order_by(User.id)
        .with_for_update()
    )
    return list(rows.all())


async def families_with_live_access(
    session: AsyncSession, user_id: int, since: datetime
) -> list[str]:
    """Sessions of the user whose access tokens may still be valid: an access token is issued no
    later than its family's absolute expiry, so families that ended before `since` (that expiry
    minus the access lifetime) have none left."""
    rows = await session.scalars(
        select(RefreshToken.family_id)
        .where(RefreshToken.user_id == user_id, RefreshToken.family_expires_at > since)
        .distinct()
    )
    return list(rows.all())


async def revoke_enrolment_links(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        update(EnrolmentLink)
        .where(
            EnrolmentLink.user_id == user_id,
            EnrolmentLink.used_at.is_(None),
            EnrolmentLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


async def live_enrolment_link(
    session: AsyncSession, user_id: int, token_hash: str, now: datetime
) -> EnrolmentLink | None:
    return await session.scalar(
        select(EnrolmentLink).where(
            EnrolmentLink.user_id == user_id,
            EnrolmentLink.token_hash == token_hash,
            EnrolmentLink.used_at.is_(None),
            EnrolmentLink.revoked_at.is_(None),
            EnrolmentLink.expires_at > now,
        )
    )


async def consume_enrolment_link(session: AsyncSession, link_id: int, now: datetime) -> bool:
    """Mark the link used unless it already is (or was revoked or expired): of two concurrent
    confirmations exactly one gets it."""
    result = await session.execute(
        update(EnrolmentLink)
        .where(
            EnrolmentLink.id == link_id,
            EnrolmentLink.used_at.is_(None),
            EnrolmentLink.revoked_at.is_(None),
            EnrolmentLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(EnrolmentLink.id)
    )
    return result.first() is not None
