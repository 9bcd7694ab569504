"""Customer documents (contracts, invoices, acts): metadata and verified downloads.

Every endpoint serves customers (their own documents only; anything else is 404) and staff
(any document; the list needs `?customer_id=`)."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from backend.auth.tokens import Principal
from backend.customers.errors import CustomerNotFound
from backend.deps import CurrentUser, SessionDep, SettingsDep, actor_of, customer_scope
from backend.documents import service
from backend.documents.errors import DocumentCorrupted, DocumentNotFound, StorageUnavailable
from backend.documents.schemas import DocumentFilter, DocumentList, DocumentOut
from backend.documents.storage import DocumentStorage
from backend.errors import ValidationFailed, refusals
from backend.models import Document
from backend.validation import MAX_ID

router = APIRouter(tags=["documents"])

DocumentId = Annotated[int, Path(ge=1, le=MAX_ID)]


def get_storage(settings: SettingsDep) -> DocumentStorage:
    return DocumentStorage(settings.documents_dir)


StorageDep = Annotated[DocumentStorage, Depends(get_storage)]


def _customer_id_or_staff(principal: Principal) -> int | None:
    return customer_scope(principal)


_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._-]+")
# Control characters, path separators and quotes never belong in a suggested file name.
_UNSAFE_ANY = re.compile(r'[\x00-\x1f\x7f/\\"]+')


def attachment_disposition(document: Document) -> str:
    """`attachment` with an ASCII `filename` every client understands and an RFC 5987
    `filename*` carrying the real (often Cyrillic) title."""
    title = _UNSAFE_ANY.sub(" ", unicodedata.normalize("NFC", document.title)).strip()[:150]
    if title.lower().endswith(".pdf"):
        title = title[:-4].rstrip()
    # Accents fold to ASCII ("Café" -> "Cafe"); a title in another script (Cyrillic) would
    # lose its words, so the kind, period and version name the file instead.
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", title) if not unicodedata.combining(c)
    )
    ascii_name = _UNSAFE_ASCII.sub("_", folded).strip("._-") if folded.isascii() else ""
    if not re.search(r"[A-Za-z0-9]", ascii_name):
        parts = [document.kind.value, document.period, f"v{document.version}"]
        ascii_name = _UNSAFE_ASCII.sub("_", "-".join(p for p in parts if p)).strip("._-")
    ascii_name = ascii_name[:100] + ".pdf"
    full_name = (title or ascii_name.removesuffix(".pdf")) + ".pdf"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(full_name, safe='')}"


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


@router.get("/documents", responses=refusals(CustomerNotFound, ValidationFailed))
async def list_documents(
    filters: Annotated[DocumentFilter, Query()], principal: CurrentUser, session: SessionDep
) -> DocumentList:
    """Documents, newest first, optionally by `kind` (repeatable) and `period`. Customers get
    their own (`customer_id`, if given, must be theirs); staff must pass `customer_id`."""
    own_customer_id = _customer_id_or_staff(principal)
    if own_customer_id is None:
        if filters.customer_id is None:
            raise ValidationFailed("customer_id is required for staff")
        documents, total = await service.list_documents_for_staff(
            session, filters.customer_id, filters
        )
    else:
        if filters.customer_id not in (None, own_customer_id):
            raise CustomerNotFound()
        documents, total = await service.list_documents(session, own_customer_id, filters)
    return DocumentList(
        items=[DocumentOut.model_validate(d) for d in documents],
        total=total,
        limit=filters.limit,
        offset=filters.offset,
    )


@router.get("/documents/{document_id}", responses=refusals(DocumentNotFound))
async def get_document(
    document_id: DocumentId, principal: CurrentUser, session: SessionDep
) -> DocumentOut:
    """A document's metadata (kind, title, period, version, size, SHA-256)."""
    customer_id = _customer_id_or_staff(principal)
    document = await service.document_for(session, document_id, customer_id=customer_id)
    return DocumentOut.model_validate(document)


@router.get(
    "/documents/{document_id}/download",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "the PDF"},
        304: {"description": "unchanged (If-None-Match)"},
        **refusals(DocumentNotFound, DocumentCorrupted, StorageUnavailable),
    },
)
async def download_document(
    document_id: DocumentId,
    principal: CurrentUser,
    session: SessionDep,
    storage: StorageDep,
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    """The PDF as an attachment. The file is checked against its SHA-256 before the first
    byte is sent; a missing or altered file is 409 `document_corrupted`. The ETag is the
    SHA-256, so `If-None-Match` answers 304."""
    customer_id = _customer_id_or_staff(principal)
    document = await service.document_for(session, document_id, customer_id=customer_id)
    etag = f'"{document.sha256}"'
    headers = {
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        # Personal data: no shared caches; the browser may keep it but must revalidate.
        "Cache-Control": "private, no-cache",
    }
    if _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    data = await service.download(session, storage, document, actor_of(principal))
    headers["Content-Disposition"] = attachment_disposition(document)
    return Response(content=data, media_type="application/pdf", headers=headers)
