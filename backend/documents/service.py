from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.customers.errors import CustomerNotFound as CustomerNotFound
from backend.documents import repository
from backend.documents.errors import DocumentNotFound
from backend.documents.schemas import DocumentFilter
from backend.documents.storage import DocumentStorage
from backend.models import Document


async def list_documents(
    session: AsyncSession, customer_id: int, filters: DocumentFilter
) -> tuple[list[Document], int]:
    return await repository.customer_documents(
        session,
        customer_id,
        kinds=filters.kind,
        period=filters.period,
        limit=filters.limit,
        offset=filters.offset,
    )


async def list_documents_for_staff(
    session: AsyncSession, customer_id: int, filters: DocumentFilter
) -> tuple[list[Document], int]:
    # An unknown customer is reported, so a mistyped id is not mistaken for "no documents".
    if not await repository.customer_exists(session, customer_id):
        raise CustomerNotFound()
    return await list_documents(session, customer_id, filters)


async def document_for(
    session: AsyncSession, document_id: int, *, customer_id: int | None
) -> Document:
    """The document; with `customer_id`, only if it is that customer's (else 404, so ids
    cannot be probed). Staff pass None."""
    document = await repository.document_by_id(session, document_id)
    if document is None or (customer_id is not None and document.customer_id != customer_id):
        raise DocumentNotFound()
    return document


async def download(
    session: AsyncSession, storage: DocumentStorage, document: Document, actor: Actor
) -> bytes:
    """The verified file content; every download is audited (documents hold personal data)."""
    data = await storage.open(document)
    await audit.record(
        session,
        "document.download",
        actor,
        "document",
        document.id,
        customer_id=document.customer_id,
        kind=document.kind.value,
        version=document.version,
    )
    return data
