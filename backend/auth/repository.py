from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Customer, PasswordResetCode, RecoveryCode, RefreshToken, User


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def user_by_phone(session: AsyncSession, phone: str) -> User | None:
    return await session.scalar(select(User).where(User.phone == phone))


async def user_by_contract_number(session: AsyncSession, number: str) -> User | None:
    """The sign-in of the customer with this contract number, in any letter case (the database
    lowers both sides, so both follow one rule). Numbers that differ only in case name no one: a
    login must name a single account."""
    rows = await session.scalars(
        select(User)
        .join(Customer, Customer.user_id == User.id)
        .where(func.lower(Customer.contract_number) == func.lower(number))
        .limit(2)
    )
    found = rows.all()
    return found[0] if len(found) == 1 else None


async def user_exists(session: AsyncSession, email: str | None, phone: str | None) -> bool:
    conditions = []
    if email:
        conditions.append(User.email == email)
    if phone:
        conditions.append(User.phone == phone)
    if not conditions:
        return False
    return (await session.scalar(select(User.id).where(or_(*conditions)).limit(1))) is not None


async def customer_id_for_user(session: AsyncSession, user_id: int) -> int | None:
    return await session.scalar(select(Customer.id).where(Customer.user_id == user_id))


async def consume_refresh_token(
    session: AsyncSession, token_hash: str, now: datetime
) -> tuple[int, int, str, str, datetime] | None:
    """Mark an unused, live token used and return it; atomic on PostgreSQL and SQLite alike, so of
    two concurrent refreshes with one token exactly one gets a row."""
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == token_hash,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
            RefreshToken.family_expires_at > now,
        )
        .values(used_at=now)
        .returning(
            RefreshToken.id,
            RefreshToken.user_id,
            RefreshToken.family_id,
            RefreshToken.amr,
            RefreshToken.family_expires_at,
        )
    )
    row = result.one_or_none()
    if row is None:
        return None
    return (int(row[0]), int(row[1]), str(row[2]), str(row[3]), row[4])


async def refresh_token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def revoke_family(session: AsyncSession, family_id: str, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def live_families(session: AsyncSession, user_id: int, now: datetime) -> list[str]:
    rows = await session.scalars(
        select(RefreshToken.family_id)
        .where(
            RefreshToken.user_id == user_id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.family_expires_at > now,
        )
        .distinct()
    )
    return list(rows.all())


async def revoke_user_families(
    session: AsyncSession, user_id: int, now: datetime, keep_family: str | None = None
) -> None:
    query = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    if keep_family is not None:
        query = query.where(RefreshToken.family_id != keep_family)
    await session.execute(query.values(revoked_at=now))


async def accept_totp_timecode(session: AsyncSession, user_id: int, timecode: int) -> bool:
    """Store the accepted time step unless it is not newer than the last one (a replay)."""
    result = await session.execute(
        update(User)
        .where(
            User.id == user_id,
            or_(User.totp_last_timecode.is_(None), User.totp_last_timecode < timecode),
        )
        .values(totp_last_timecode=timecode)
        .returning(User.id)
    )
    return result.scalar_one_or_none() is not None


async def consume_recovery_code(
    session: AsyncSession, user_id: int, code_hash: str, now: datetime
) -> bool:
    result = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == code_hash,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .returning(RecoveryCode.id)
    )
    return result.first() is not None


async def replace_recovery_codes(session: AsyncSession, user_id: int, hashes: list[str]) -> None:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.add_all(RecoveryCode(user_id=user_id, code_hash=h) for h in hashes)


async def delete_recovery_codes(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


async def invalidate_reset_codes(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        update(PasswordResetCode)
        .where(PasswordResetCode.user_id == user_id, PasswordResetCode.used_at.is_(None))
        .values(used_at=now)
    )


async def live_reset_code(
    session: AsyncSession, user_id: int, now: datetime
) -> PasswordResetCode | None:
    return await session.scalar(
        select(PasswordResetCode)
        .where(
            PasswordResetCode.user_id == user_id,
            PasswordResetCode.used_at.is_(None),
            PasswordResetCode.expires_at > now,
        )
        .order_by(PasswordResetCode.id.desc())
        .limit(1)
    )


async def has_sessions(session: AsyncSession, user_id: int) -> bool:
    """Whether the account ever had a session (a refresh token, live or not)."""
    found = await session.scalar(
        select(RefreshToken.id).where(RefreshToken.user_id == user_id).limit(1)
    )
    return found is not None


async def session_addresses(
    session: AsyncSession, user_id: int, user_agent: str | None
) -> list[str | None]:
    """The distinct addresses the account's sessions were used from with this user agent."""
    same_agent = (
        RefreshToken.user_agent.is_(None)
        if user_agent is None
        else RefreshToken.user_agent == user_agent
    )
    rows = await session.scalars(
        select(RefreshToken.ip).where(RefreshToken.user_id == user_id, same_agent).distinct()
    )
    return list(rows.all())
