from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from backend.validation import MAX_ID, Line


class AuditFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    actor_user_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    action: Line | None = Field(default=None, min_length=1, max_length=64)
    object_type: Line | None = Field(default=None, min_length=1, max_length=32)
    object_id: Line | None = Field(default=None, min_length=1, max_length=64)
    since: datetime | None = Field(default=None, description="ISO 8601; no offset means UTC")
    until: datetime | None = Field(
        default=None, description="ISO 8601, exclusive; no offset means UTC"
    )
    limit: int = Field(default=100, ge=1, le=500)
    before_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="cursor: `next_before_id` of the last page"
    )

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> AuditFilter:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be earlier than until")
        return self


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_user_id: int | None
    actor_role: str | None
    action: str
    object_type: str | None
    object_id: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_before_id: int | None = Field(
        description="pass as `before_id` for the next (older) page; null on the last page"
    )
