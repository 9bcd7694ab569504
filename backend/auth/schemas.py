from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from backend.models import Role
from backend.validation import normalize_phone


def _phone(value: str) -> str:
    return normalize_phone(value)


Phone = Annotated[str, Field(min_length=5, max_length=25), AfterValidator(_phone)]
Password = Annotated[str, Field(min_length=1, max_length=256)]
OtpCode = Annotated[str, Field(min_length=6, max_length=20)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterIn(Strict):
    email: EmailStr
    phone: Phone | None = None
    password: Password
    full_name: str = Field(min_length=2, max_length=200)
    locale: str = Field(default="ru", pattern="^(ru|en)$")


class LoginIn(Strict):
    login: str = Field(
        min_length=3,
        max_length=254,
        description="email, phone or (customers) contract number, in any letter case",
    )
    password: Password


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class LoginOut(BaseModel):
    """Either tokens, or `mfa_required` with a short-lived `mfa_token` for /auth/2fa/verify."""

    mfa_required: bool = False
    mfa_token: str | None = None
    tokens: TokenPair | None = None


class MfaVerifyIn(Strict):
    mfa_token: str = Field(min_length=10, max_length=2048)
    code: OtpCode | None = None
    recovery_code: str | None = Field(default=None, min_length=6, max_length=32)


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=10, max_length=200)


class LogoutIn(Strict):
    refresh_token: str | None = Field(default=None, max_length=200)


class ForgotPasswordIn(Strict):
    login: str = Field(min_length=3, max_length=254)


class ResetPasswordIn(Strict):
    login: str = Field(min_length=3, max_length=254)
    code: str = Field(min_length=6, max_length=12)
    new_password: Password
    otp_code: OtpCode | None = None
    recovery_code: str | None = Field(default=None, min_length=6, max_length=32)


class ChangePasswordIn(Strict):
    current_password: Password
    new_password: Password


class TotpEnrollOut(BaseModel):
    secret: str
    provisioning_uri: str


class TotpConfirmIn(Strict):
    code: OtpCode


class TotpConfirmOut(BaseModel):
    recovery_codes: list[str]
    tokens: TokenPair


class TotpDisableIn(Strict):
    password: Password
    code: OtpCode


class RecoveryCodesIn(Strict):
    code: OtpCode


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class MeOut(BaseModel):
    id: int
    email: str | None
    phone: str | None
    role: Role
    customer_id: int | None
    totp_enabled: bool
    mfa_satisfied: bool
    display_name: str | None = Field(
        description="staff: the name customers see when you join their conversation"
    )


class Accepted(BaseModel):
    status: str = "accepted"
    detail: str
