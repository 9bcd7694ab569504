from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from backend.auth.schemas import OtpCode, Strict
from backend.models import Role


class AdminUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None
    phone: str | None
    role: Role
    is_active: bool
    totp_enabled: bool


class EnrolmentLinkOut(BaseModel):
    """Hand `token` to the staff user over a trusted channel; it is shown once."""

    user_id: int
    token: str
    expires_at: datetime


class StaffEnrolStartIn(Strict):
    mfa_token: str = Field(min_length=10, max_length=2048, description="from /auth/login")
    enrolment_token: str | None = Field(
        default=None, min_length=10, max_length=200, description="from an admin's enrolment link"
    )


class StaffEnrolConfirmIn(StaffEnrolStartIn):
    code: OtpCode
