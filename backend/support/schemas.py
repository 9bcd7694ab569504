from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from backend.models import Role, TicketCategory, TicketPriority, TicketStatus
from backend.validation import MAX_ID, Line, Text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TicketCreateIn(Strict):
    subject: Line = Field(min_length=3, max_length=200)
    description: Text = Field(min_length=1, max_length=5000)
    category: TicketCategory = TicketCategory.other
    priority: TicketPriority = TicketPriority.medium

    @field_validator("priority")
    @classmethod
    def _not_critical(cls, value: TicketPriority) -> TicketPriority:
        if value is TicketPriority.critical:
            raise ValueError("critical priority is set by support staff only")
        return value


class TicketUpdateIn(Strict):
    """Only the fields present change; `assignee_id: null` unassigns."""

    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    category: TicketCategory | None = None
    assignee_id: int | None = Field(default=None, ge=1, le=MAX_ID)

    @model_validator(mode="after")
    def _something_to_change(self) -> TicketUpdateIn:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        for name in ("status", "priority", "category"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class MessageIn(Strict):
    body: Text = Field(min_length=1, max_length=5000)
    internal: bool = Field(
        default=False, description="staff only: a note other staff see and the customer does not"
    )


class CustomerTicketFilter(Strict):
    status: list[TicketStatus] = Field(default_factory=list)
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=100_000)


class QueueFilter(Strict):
    status: list[TicketStatus] = Field(default_factory=list)
    priority: list[TicketPriority] = Field(default_factory=list)
    category: list[TicketCategory] = Field(default_factory=list)
    assignee_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    unassigned: bool = Field(default=False, description="only tickets nobody is assigned to")
    q: Line | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="text in the subject or description (case-insensitive), or a ticket number",
    )
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    author_user_id: int | None
    author_role: Role
    body: str
    internal: bool
    created_at: datetime


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int | None
    subject: str
    description: str
    category: TicketCategory
    status: TicketStatus
    priority: TicketPriority
    assignee_id: int | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class StaffTicketOut(TicketOut):
    # Diagnostics and contact data the bot collected; staff only.
    details: dict[str, Any]


class TicketDetail(TicketOut):
    messages: list[MessageOut]


class StaffTicketDetail(StaffTicketOut):
    messages: list[MessageOut]


class TicketList(BaseModel):
    items: list[TicketOut]
    total: int
    limit: int
    offset: int


class TicketQueue(BaseModel):
    items: list[StaffTicketOut]
    total: int
    limit: int
    offset: int
