"""Path and query parameters shared by the routers. Ids travel as BIGINT: anything larger is
refused up front (422) instead of overflowing in SQL (a 500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from backend.validation import MAX_ID

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
CursorQuery = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="cursor: `next_before_id` of a page")
]
