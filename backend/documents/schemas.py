from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from backend.models import DocumentKind

# Ids travel as BIGINT: anything larger is refused up front instead of overflowing in SQL.
MAX_ID = 2**63 - 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _single_line(value: str) -> str:
    # PostgreSQL refuses NUL in text: bad input, not a database failure.
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


Line = Annotated[str, AfterValidator(_single_line)]


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
