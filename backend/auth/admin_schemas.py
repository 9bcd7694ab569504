from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from backend.auth.schemas import OtpCode, Strict
from backend.models import Role


def _printable_name(value: str) -> str:
    """Customers read this name in their chat: no control characters, nor invisible format
    characters (bidi overrides, zero-width) that could make it read as something else."""
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        raise ValueError("control and format characters are not allowed")
    return value


DisplayName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_printable_name)]


class AdminUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None
    phone: str | None
    role: Role
    is_active: bool
    totp_enabled: bool
    display_name: str | None


class AdminUserPatchIn(Strict):
    """`display_name` (agents and admins): what customers see when this agent joins their chat;
    trimmed, 1-64 characters; null removes it (they see a generic "an operator")."""

    display_name: DisplayName | None


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
