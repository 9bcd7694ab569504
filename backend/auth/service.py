"""Registration, login with optional TOTP, refresh rotation with reuse detection, logout,
password recovery and change, TOTP enrolment. Every auth event lands in the audit log; a
customer's sign-in from a new device and a changed password also tell the customer
(backend/auth/notices.py)."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import Actor
from backend.auth import notices, passwords, repository, sign_ins, totp
from backend.auth.errors import (
    EnrolmentLinkRequired,
    InvalidResetCode,
    RecoveryChannelUnavailable,
)
from backend.auth.schemas import (
    LoginOut,
    RegisterIn,
    TokenPair,
    TotpConfirmOut,
    TotpEnrollOut,
)
from backend.auth.tokens import Principal, decode_token, encode_token, hash_opaque, new_opaque_token
from backend.clock import utcnow
from backend.context import current_request
from backend.customers import repository as customers_repository
from backend.customers import service as customers
from backend.db import unit_of_work
from backend.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidOtp,
    InvalidToken,
    MfaRequired,
    NotFound,
    ValidationFailed,
)
from backend.models import PasswordResetCode, RefreshToken, Role, User
from backend.outbox import recovery_channels
from backend.state import Resources
from backend.validation import looks_like_email, normalize_email, normalize_phone

STAFF_ROLES = (Role.agent, Role.admin)
# The login lockout doubles per failure up to this, so locking an account (staff included) out
# costs an attacker a failure every 15 minutes instead of 100 failures for an hour.
LOGIN_LOCKOUT_CAP_S = 15 * 60
LOGIN_FAILURES_MEMORY_S = 3600  # failures in a row are forgotten an hour after the last one


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, role=user.role)


# Contract numbers are at most this long (customers.contract_number); a longer login is none.
CONTRACT_NUMBER_MAX = 32


def _login_key(login: str) -> str:
    """The login, normalised: an e-mail, an E.164 phone, or else (a contract number, say) the
    trimmed text in lower case."""
    if looks_like_email(login):
        return normalize_email(login)
    try:
        return normalize_phone(login)
    except ValueError:
        return login.strip().lower()


async def find_user_by_login(session: AsyncSession, login: str) -> User | None:
    """The account a login names: by e-mail, by phone, or else a customer's by contract number
    (staff have no contract). An unknown one is None, and costs the caller the same from here:
    `passwords.verify_password` checks a dummy hash then."""
    key = _login_key(login)
    if looks_like_email(key):
        return await repository.user_by_email(session, key)
    if key.startswith("+"):
        return await repository.user_by_phone(session, key)
    if not key or len(key) > CONTRACT_NUMBER_MAX:
        return None
    return await repository.user_by_contract_number(session, key)


def _account_subject(user: User | None, login: str) -> str:
    """What per-account limits count: the user, whichever login (email, phone or contract
    number) names it. An unknown login counts by its normalized text, so it behaves like an
    existing account."""
    return f"user:{user.id}" if user is not None else f"login:{_login_key(login)}"


async def security_event(
    session: AsyncSession, res: Resources, action: str, user: User | None = None, **details: object
) -> None:
    """Record a failed attempt in its own transaction, so that the request's rollback does not
    erase it, without ever holding two pool connections at once: a flood of failures whose
    requests each waited for a second connection froze the whole pool. The caller is failing,
    so its work is rolled back first, which hands its connection back; then the row is written.
    Call it right before raising: the session's objects are expired afterwards."""
    actor = _actor(user) if user else None
    user_id = user.id if user else None
    await session.rollback()
    async with unit_of_work(res.sessionmaker) as s:
        await audit.record(s, action, actor, "user", user_id, **details)


# --- registration -------------------------------------------------------------------------


async def register(session: AsyncSession, res: Resources, data: RegisterIn) -> User:
    ip = current_request().ip or "unknown"
    await res.limiter.hit("register-ip", ip, 20, 3600)
    email = normalize_email(str(data.email))
    user = await sign_ins.create_customer_sign_in(
        session, res.settings, email=email, phone=data.phone, password=data.password
    )
    await customers.create_customer(
        session,
        full_name=data.full_name,
        email=email,
        phone=data.phone,
        locale=data.locale,
        user_id=user.id,
        actor=_actor(user),
    )
    await audit.record(session, "auth.register", _actor(user), "user", user.id)
    return user


# --- tokens -------------------------------------------------------------------------------


async def _access_token(
    session: AsyncSession, res: Resources, user: User, sid: str, amr: tuple[str, ...]
) -> str:
    customer_id = None
    if user.role is Role.customer:
        customer_id = await repository.customer_id_for_user(session, user.id)
    return encode_token(
        res.settings,
        typ="access",
        user_id=user.id,
        role=user.role,
        customer_id=customer_id,
        sid=sid,
        amr=amr,
        lifetime=timedelta(minutes=res.settings.access_token_minutes),
    )


def _new_refresh_row(
    res: Resources,
    user_id: int,
    family_id: str,
    amr: tuple[str, ...],
    family_expires_at: datetime,
    parent_id: int | None,
) -> tuple[RefreshToken, str]:
    token = new_opaque_token()
    now = utcnow()
    ctx = current_request()
    row = RefreshToken(
        user_id=user_id,
        family_id=family_id,
        token_hash=hash_opaque(token),
        parent_id=parent_id,
        amr=",".join(amr),
        expires_at=min(now + timedelta(days=res.settings.refresh_token_days), family_expires_at),
        family_expires_at=family_expires_at,
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "")[:255] or None,
    )
    return row, token


async def issue_tokens(
    session: AsyncSession, res: Resources, user: User, amr: tuple[str, ...]
) -> TokenPair:
    """Start a new session (a refresh-token family whose id is the access tokens' `sid`)."""
    family_id = str(uuid.uuid4())
    family_expires = utcnow() + timedelta(days=res.settings.refresh_absolute_days)
    row, refresh = _new_refresh_row(res, user.id, family_id, amr, family_expires, None)
    session.add(row)
    user.last_login_at = utcnow()
    return TokenPair(
        access_token=await _access_token(session, res, user, family_id, amr),
        refresh_token=refresh,
        expires_in=res.settings.access_token_minutes * 60,
    )


async def _deny_sessions(res: Resources, family_ids: list[str]) -> None:
    """Refuse the sessions' access tokens at once, for as long as they could still be valid."""
    await res.revocations.revoke(family_ids, res.settings.access_token_minutes * 60 + 60)


async def login(session: AsyncSession, res: Resources, login_: str, password: str) -> LoginOut:
    settings = res.settings
    ip = current_request().ip or "unknown"
    await res.limiter.hit("login-ip", ip, settings.login_attempts_per_ip_minute, 60)
    user = await find_user_by_login(session, login_)
    subject = _account_subject(user, login_)
    # Counted as a failure before the password is checked (concurrent guesses cannot all slip
    # under the limit); a right password clears it.
    await res.limiter.backoff(
        "login",
        subject,
        settings.login_failures_before_lockout,
        settings.login_lockout_base_seconds,
        LOGIN_LOCKOUT_CAP_S,
        LOGIN_FAILURES_MEMORY_S,
    )
    ok = await passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        await security_event(session, res, "auth.login_failed", user, reason="bad_credentials")
        raise InvalidCredentials()
    await res.limiter.clear_backoff("login", subject)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
    # Staff without 2FA stop at this step too: they may only enrol, with an admin's enrolment
    # link (backend/auth/enrolment.py).
    if user.totp_enabled or user.role in STAFF_ROLES:
        mfa_token = encode_token(
            settings,
            typ="mfa",
            user_id=user.id,
            role=user.role,
            customer_id=None,
            # unique, so that the token can be spent once (verify_mfa)
            sid=f"mfa-{uuid.uuid4().hex}",
            amr=("pwd",),
            lifetime=timedelta(minutes=settings.mfa_token_minutes),
        )
        await audit.record(session, "auth.password_ok_mfa_pending", _actor(user), "user", user.id)
        return LoginOut(mfa_required=True, mfa_token=mfa_token)
    entry = await audit.record(session, "auth.login", _actor(user), "user", user.id, amr="pwd")
    await notices.sign_in(session, user, entry, utcnow())
    return LoginOut(tokens=await issue_tokens(session, res, user, ("pwd",)))


async def _check_second_factor(
    session: AsyncSession,
    res: Resources,
    user: User,
    code: str | None,
    recovery_code: str | None,
) -> str:
    """Verify a TOTP code (rejecting replays) or consume a recovery code; returns the method.
    The attempt is counted before the check, and handed back when it succeeds."""
    if not code and not recovery_code:
        raise ValidationFailed("give `code` or `recovery_code`")
    subject = str(user.id)
    await res.limiter.hit("otp", subject, res.settings.otp_attempts_per_user_5min, 300)
    if code:
        secret = (
            totp.decrypt_secret(res.settings, user.totp_secret_encrypted)
            if user.totp_secret_encrypted
            else None
        )
        timecode = totp.matching_timecode(secret, code) if secret else None
        if timecode is not None and await repository.accept_totp_timecode(
            session, user.id, timecode
        ):
            await res.limiter.undo("otp", subject)
            return "otp"
        reason = "replayed" if timecode is not None else "wrong_code"
    else:
        if await repository.consume_recovery_code(
            session, user.id, totp.hash_recovery_code(recovery_code or ""), utcnow()
        ):
            await audit.record(session, "auth.recovery_code_used", _actor(user), "user", user.id)
            await res.limiter.undo("otp", subject)
            return "recovery"
        reason = "wrong_recovery_code"
    await security_event(session, res, "auth.otp_failed", user, reason=reason)
    raise InvalidOtp()


async def verify_mfa(
    session: AsyncSession,
    res: Resources,
    mfa_token: str,
    code: str | None,
    recovery_code: str | None,
) -> TokenPair:
    pending = decode_token(res.settings, mfa_token, "mfa")
    user = await repository.user_by_id(session, pending.user_id)
    if user is None or not user.is_active:
        raise InvalidToken()
    if not user.totp_enabled:
        # Staff without 2FA: sign-in stops here until they enrol with an admin's link.
        raise EnrolmentLinkRequired() if user.role in STAFF_ROLES else InvalidToken()
    await _check_second_factor(session, res, user, code, recovery_code)
    # The mfa_token is spent by its first success: a second valid code (the window holds two)
    # cannot open a second session with it. A refusal rolls back the code's consumption.
    spent = await res.redis.set(
        f"mfa-spent:{user.id}:{pending.sid}",
        "1",
        nx=True,
        ex=res.settings.mfa_token_minutes * 60 + 60,
    )
    if not spent:
        raise InvalidToken("this sign-in step was already completed; sign in again")
    entry = await audit.record(session, "auth.login", _actor(user), "user", user.id, amr="pwd,otp")
    await notices.sign_in(session, user, entry, utcnow())
    return await issue_tokens(session, res, user, ("pwd", "otp"))


async def refresh(session: AsyncSession, res: Resources, token: str) -> TokenPair:
    now = utcnow()
    token_hash = hash_opaque(token)
    row = await repository.consume_refresh_token(session, token_hash, now)
    if row is None:
        existing = await repository.refresh_token_by_hash(session, token_hash)
        if existing is not None and (existing.used_at or existing.revoked_at):
            # Reuse of a rotated or revoked token: someone holds a copy. Kill the whole family.
            family, owner_id = existing.family_id, existing.user_id
            # Under READ COMMITTED our UPDATE above locked the token's newest version while
            # re-checking it; release it before revoking the family from another connection.
            await session.rollback()
            async with unit_of_work(res.sessionmaker) as s:
                await repository.revoke_family(s, family, now)
                await audit.record(
                    s,
                    "auth.refresh_reuse_detected",
                    Actor(owner_id),
                    "user",
                    owner_id,
                    family=family,
                )
            await _deny_sessions(res, [family])
        raise InvalidToken("refresh token is invalid, expired or already used")
    token_id, user_id, family_id, amr_text, family_expires_at = row
    user = await repository.user_by_id(session, user_id)
    if user is None or not user.is_active:
        raise InvalidToken()
    amr = tuple(a for a in amr_text.split(",") if a)
    child, new_token = _new_refresh_row(res, user_id, family_id, amr, family_expires_at, token_id)
    session.add(child)
    await audit.record(session, "auth.refresh", _actor(user), "user", user.id)
    return TokenPair(
        access_token=await _access_token(session, res, user, family_id, amr),
        refresh_token=new_token,
        expires_in=res.settings.access_token_minutes * 60,
    )


async def logout(session: AsyncSession, res: Resources, principal: Principal) -> None:
    await repository.revoke_family(session, principal.sid, utcnow())
    await audit.record(
        session, "auth.logout", Actor(principal.user_id, principal.role), "user", principal.user_id
    )
    await _deny_sessions(res, [principal.sid])


# --- passwords ----------------------------------------------------------------------------


async def forgot_password(session: AsyncSession, res: Resources, login_: str) -> None:
    """Send a one-time code through the outbox. The answer is the same whether or not the
    account exists, so it cannot be used to discover accounts. Where no channel can carry the
    code (production without real email or SMS delivery) it says so, for every login alike."""
    available = recovery_channels(res.settings)
    if not available:
        raise RecoveryChannelUnavailable()
    ip = current_request().ip or "unknown"
    await res.limiter.hit("recover-ip", ip, 20, 3600)
    user = await find_user_by_login(session, login_)
    if user is None or not user.is_active:
        return
    count = int(await res.redis.incr(f"rl:recover-send:{user.id}"))
    await res.redis.expire(f"rl:recover-send:{user.id}", 3600, nx=True)
    if count > res.settings.recovery_sends_per_account_hour:
        return
    if user.email and "email" in available:
        channel, address = "email", user.email
    elif user.phone and "sms" in available:
        channel, address = "sms", user.phone
    else:
        # Telling the client would tell it that the account exists.
        await audit.record(
            session, "auth.password_reset_undeliverable", _actor(user), "user", user.id
        )
        return
    now = utcnow()
    await repository.invalidate_reset_codes(session, user.id, now)
    code = f"{secrets.randbelow(10**6):06d}"
    reset = PasswordResetCode(
        user_id=user.id,
        code_hash=hash_opaque(code),
        expires_at=now + timedelta(minutes=res.settings.recovery_code_minutes),
    )
    session.add(reset)
    await session.flush()
    locale = "ru"
    customer_id = await repository.customer_id_for_user(session, user.id)
    if customer_id is not None:
        customer = await customers_repository.customer_by_id(session, customer_id)
        locale = customer.locale if customer else locale
    await outbox.enqueue(
        session,
        kind="auth.password_reset_code",
        payload={
            "channel": channel,
            "to": address,
            "locale": locale,
            "template": "auth-password-reset-code",
            "args": {"code": code, "minutes": res.settings.recovery_code_minutes},
            "secret_args": ["code"],
        },
        dedup_key=f"password-reset:{reset.id}",
    )
    await audit.record(session, "auth.password_reset_requested", _actor(user), "user", user.id)


async def reset_password(
    session: AsyncSession,
    res: Resources,
    login_: str,
    code: str,
    new_password: str,
    otp_code: str | None,
    recovery_code: str | None,
) -> None:
    settings = res.settings
    ip = current_request().ip or "unknown"
    # Address first, so one client's flood does not use up everyone's global allowance.
    await res.limiter.hit("reset-ip", ip, settings.password_reset_per_ip_15min, 900)
    await res.limiter.hit("reset-global", "all", settings.password_reset_global_per_minute, 60)
    # Before the lookup: no Redis round trip while the request holds a pool connection.
    await res.limiter.hit("reset-attempt", _login_key(login_), 10, 900)
    user = await find_user_by_login(session, login_)
    reset = await repository.live_reset_code(session, user.id, utcnow()) if user else None
    if (
        user is None
        or reset is None
        or not secrets.compare_digest(reset.code_hash, hash_opaque(code.strip()))
    ):
        await security_event(session, res, "auth.password_reset_failed", user, reason="bad_code")
        raise InvalidResetCode()
    if user.totp_enabled:
        # Recovery never bypasses the second factor.
        if not otp_code and not recovery_code:
            raise MfaRequired("this account has two-factor authentication: give `otp_code`")
        await _check_second_factor(session, res, user, otp_code, recovery_code)
    passwords.check_password_strength(
        res.settings, new_password, user.email.split("@")[0] if user.email else None
    )
    now = utcnow()
    reset.used_at = now
    user.password_hash = await passwords.hash_password(new_password)
    user.password_changed_at = now
    families = await repository.live_families(session, user.id, now)
    await repository.revoke_user_families(session, user.id, now)
    entry = await audit.record(session, "auth.password_reset", _actor(user), "user", user.id)
    await notices.password_changed(session, user, "reset", entry, now)
    await _deny_sessions(res, families)
    await res.limiter.clear_backoff("login", _account_subject(user, login_))


async def change_password(
    session: AsyncSession, res: Resources, principal: Principal, current: str, new: str
) -> None:
    user = await repository.user_by_id(session, principal.user_id)
    if user is None:
        raise NotFound()
    await res.limiter.hit("change-password", str(user.id), 10, 3600)
    if not await passwords.verify_password(user.password_hash, current):
        await security_event(session, res, "auth.password_change_failed", user)
        raise InvalidCredentials("current password is wrong")
    passwords.check_password_strength(
        res.settings, new, user.email.split("@")[0] if user.email else None
    )
    now = utcnow()
    user.password_hash = await passwords.hash_password(new)
    user.password_changed_at = now
    families = [
        f for f in await repository.live_families(session, user.id, now) if f != principal.sid
    ]
    await repository.revoke_user_families(session, user.id, now, keep_family=principal.sid)
    entry = await audit.record(session, "auth.password_changed", _actor(user), "user", user.id)
    await notices.password_changed(session, user, "changed", entry, now)
    await _deny_sessions(res, families)


# --- TOTP ---------------------------------------------------------------------------------


async def totp_enroll(session: AsyncSession, res: Resources, principal: Principal) -> TotpEnrollOut:
    user = await repository.user_by_id(session, principal.user_id)
    if user is None:
        raise NotFound()
    if user.totp_enabled:
        raise Conflict("two-factor authentication is already enabled")
    if user.role in STAFF_ROLES:
        # No trust on first use for staff: enrolment needs an admin's link (enrolment.py).
        raise EnrolmentLinkRequired()
    secret = totp.new_secret()
    user.totp_secret_encrypted = totp.encrypt_secret(res.settings, secret)
    user.totp_last_timecode = None
    await audit.record(session, "auth.totp_enroll_started", _actor(user), "user", user.id)
    return TotpEnrollOut(
        secret=secret,
        provisioning_uri=totp.provisioning_uri(secret, user.email or user.phone or str(user.id)),
    )


async def totp_confirm(
    session: AsyncSession, res: Resources, principal: Principal, code: str
) -> TotpConfirmOut:
    user = await repository.user_by_id(session, principal.user_id)
    if user is None:
        raise NotFound()
    if user.totp_enabled:
        raise Conflict("two-factor authentication is already enabled")
    if user.role in STAFF_ROLES:
        raise EnrolmentLinkRequired()
    if user.totp_secret_encrypted is None:
        raise Conflict("start with /auth/2fa/enroll")
    await _check_second_factor(session, res, user, code, None)
    user.totp_enabled = True
    codes = totp.new_recovery_codes()
    await repository.replace_recovery_codes(
        session, user.id, [totp.hash_recovery_code(c) for c in codes]
    )
    # The password-only session ends; a fresh one carries the second factor.
    await repository.revoke_family(session, principal.sid, utcnow())
    await audit.record(session, "auth.totp_enabled", _actor(user), "user", user.id)
    tokens = await issue_tokens(session, res, user, ("pwd", "otp"))
    await _deny_sessions(res, [principal.sid])
    return TotpConfirmOut(recovery_codes=codes, tokens=tokens)


async def totp_disable(
    session: AsyncSession, res: Resources, principal: Principal, password: str, code: str
) -> None:
    user = await repository.user_by_id(session, principal.user_id)
    if user is None:
        raise NotFound()
    if user.role in STAFF_ROLES:
        raise Forbidden("two-factor authentication is mandatory for agents and admins")
    if not user.totp_enabled:
        raise Conflict("two-factor authentication is not enabled")
    if not await passwords.verify_password(user.password_hash, password):
        await security_event(session, res, "auth.totp_disable_failed", user)
        raise InvalidCredentials("password is wrong")
    await _check_second_factor(session, res, user, code, None)
    user.totp_enabled = False
    user.totp_secret_encrypted = None
    user.totp_last_timecode = None
    await repository.delete_recovery_codes(session, user.id)
    await audit.record(session, "auth.totp_disabled", _actor(user), "user", user.id)


async def regenerate_recovery_codes(
    session: AsyncSession, res: Resources, principal: Principal, code: str
) -> list[str]:
    user = await repository.user_by_id(session, principal.user_id)
    if user is None or not user.totp_enabled:
        raise Conflict("two-factor authentication is not enabled")
    await _check_second_factor(session, res, user, code, None)
    codes = totp.new_recovery_codes()
    await repository.replace_recovery_codes(
        session, user.id, [totp.hash_recovery_code(c) for c in codes]
    )
    await audit.record(session, "auth.recovery_codes_regenerated", _actor(user), "user", user.id)
    return codes
