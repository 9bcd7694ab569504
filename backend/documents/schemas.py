from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from backend.models import DocumentKind
from backend.validation import MAX_ID, Line


class DocumentFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="required for staff; customers see their own"
    )
    kind: list[DocumentKind] = Field(default_factory=list)
    period: Line | None = Field(default=None, max_length=32)
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    kind: DocumentKind
    title: str
    period: str
    version: int
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class DocumentList(BaseModel):
    items: list[DocumentOut]
    total: int
    limit: int
    offset: int
