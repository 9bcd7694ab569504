from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Customer, Document, DocumentKind


async def next_version(
    session: AsyncSession, customer_id: int, kind: DocumentKind, period: str
) -> int:
    latest = await session.scalar(
        select(func.max(Document.version)).where(
            Document.customer_id == customer_id,
            Document.kind == kind,
            Document.period == period,
        )
    )
    return int(latest or 0) + 1


async def document_by_id(session: AsyncSession, document_id: int) -> Document | None:
    return await session.get(Document, document_id)


async def customer_exists(session: AsyncSession, customer_id: int) -> bool:
    found = await session.scalar(select(Customer.id).where(Customer.id == customer_id))
    return found is not None


async def customer_documents(
    session: AsyncSession,
    customer_id: int,
    *,
    kinds: Sequence[DocumentKind],
    period: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Document], int]:
    query = select(Document).where(Document.customer_id == customer_id)
    if kinds:
        query = query.where(Document.kind.in_(kinds))
    if period is not None:
        query = query.where(Document.period == period)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Document.created_at.desc(), Document.id.desc()).limit(limit).offset(offset)
    )
    return list(rows.all()), int(total or 0)
