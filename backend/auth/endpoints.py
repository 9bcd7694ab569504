from __future__ import annotations

from fastapi import APIRouter, status

from backend.auth import repository, service
from backend.auth.schemas import (
    Accepted,
    ChangePasswordIn,
    ForgotPasswordIn,
    LoginIn,
    LoginOut,
    LogoutIn,
    MeOut,
    MfaVerifyIn,
    RecoveryCodesIn,
    RecoveryCodesOut,
    RefreshIn,
    RegisterIn,
    ResetPasswordIn,
    TokenPair,
    TotpConfirmIn,
    TotpConfirmOut,
    TotpDisableIn,
    TotpEnrollOut,
)
from backend.deps import CurrentUser, ResourcesDep, SessionDep
from backend.errors import NotFound

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(data: RegisterIn, session: SessionDep, res: ResourcesDep) -> LoginOut:
    """Create a customer account (a prospect with a new contract) and sign it in."""
    user = await service.register(session, res, data)
    return LoginOut(tokens=await service.issue_tokens(session, res, user, ("pwd",)))


@router.post("/login")
async def login(data: LoginIn, session: SessionDep, res: ResourcesDep) -> LoginOut:
    """Sign in by email, phone or (customers) contract number in any letter case. With 2FA
    enabled the answer holds `mfa_token` for `/auth/2fa/verify` instead of tokens. After
    repeated failures the account (whichever login names it) answers 429 with a `Retry-After`
    that doubles per failure, at most 15 minutes."""
    return await service.login(session, res, data.login, data.password)


@router.post("/2fa/verify")
async def verify_mfa(data: MfaVerifyIn, session: SessionDep, res: ResourcesDep) -> TokenPair:
    """Second step of sign-in: a TOTP code or a one-time recovery code. An `mfa_token` opens
    one session: after a success it is spent (401 `invalid_token`)."""
    return await service.verify_mfa(session, res, data.mfa_token, data.code, data.recovery_code)


@router.post("/refresh")
async def refresh(data: RefreshIn, session: SessionDep, res: ResourcesDep) -> TokenPair:
    """Rotate a refresh token. Presenting an already used token revokes the whole session."""
    return await service.refresh(session, res, data.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    principal: CurrentUser, session: SessionDep, res: ResourcesDep, data: LogoutIn | None = None
) -> None:
    await service.logout(session, res, principal)


@router.post("/password/forgot", status_code=status.HTTP_202_ACCEPTED)
async def forgot_password(
    data: ForgotPasswordIn, session: SessionDep, res: ResourcesDep
) -> Accepted:
    """Send a one-time recovery code to the account's email (or phone). Same answer whether or
    not the account exists. 503 `recovery_channel_unavailable` where no email or SMS delivery
    is configured (production without real senders)."""
    await service.forgot_password(session, res, data.login)
    return Accepted(detail="if the account exists, a code has been sent")


@router.post("/password/reset", status_code=status.HTTP_204_NO_CONTENT)
async def reset_password(data: ResetPasswordIn, session: SessionDep, res: ResourcesDep) -> None:
    """Set a new password with the recovery code (and the TOTP code where 2FA is enabled).
    Every session of the account is revoked. Limited per login, per client address and
    globally (429 with `Retry-After`)."""
    await service.reset_password(
        session, res, data.login, data.code, data.new_password, data.otp_code, data.recovery_code
    )


@router.post("/password/change", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    data: ChangePasswordIn, principal: CurrentUser, session: SessionDep, res: ResourcesDep
) -> None:
    """Change the password; every other session is revoked."""
    await service.change_password(session, res, principal, data.current_password, data.new_password)


@router.get("/me")
async def me(principal: CurrentUser, session: SessionDep) -> MeOut:
    user = await repository.user_by_id(session, principal.user_id)
    if user is None:
        raise NotFound()
    return MeOut(
        id=user.id,
        email=user.email,
        phone=user.phone,
        role=user.role,
        customer_id=principal.customer_id,
        totp_enabled=user.totp_enabled,
        mfa_satisfied=principal.has_mfa,
        display_name=user.display_name,
    )


@router.post("/2fa/enroll")
async def totp_enroll(
    principal: CurrentUser, session: SessionDep, res: ResourcesDep
) -> TotpEnrollOut:
    """Start TOTP enrolment: returns the secret and an otpauth:// URI for an authenticator app."""
    return await service.totp_enroll(session, res, principal)


@router.post("/2fa/confirm")
async def totp_confirm(
    data: TotpConfirmIn, principal: CurrentUser, session: SessionDep, res: ResourcesDep
) -> TotpConfirmOut:
    """Finish enrolment with a code from the app; returns recovery codes and a new session."""
    return await service.totp_confirm(session, res, principal, data.code)


@router.post("/2fa/disable", status_code=status.HTTP_204_NO_CONTENT)
async def totp_disable(
    data: TotpDisableIn, principal: CurrentUser, session: SessionDep, res: ResourcesDep
) -> None:
    """Customers only: agents and admins must keep 2FA."""
    await service.totp_disable(session, res, principal, data.password, data.code)


@router.post("/2fa/recovery-codes")
async def recovery_codes(
    data: RecoveryCodesIn, principal: CurrentUser, session: SessionDep, res: ResourcesDep
) -> RecoveryCodesOut:
    codes = await service.regenerate_recovery_codes(session, res, principal, data.code)
    return RecoveryCodesOut(recovery_codes=codes)
