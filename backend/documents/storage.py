"""Document files on disk, under settings.documents_dir.

Keys are generated here from the customer id, the document kind and a random name; nothing a
user typed (titles, periods, invoice numbers) becomes part of a path. Files are written
atomically and checked against their SHA-256 on every read, so a truncated, altered or missing
file is reported instead of being served."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import tempfile
import uuid
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.db import savepoint
from backend.documents import repository
from backend.documents.errors import DocumentCorrupted as DocumentCorrupted
from backend.documents.errors import StorageUnavailable as StorageUnavailable
from backend.errors import Conflict
from backend.logging import get_logger
from backend.models import Document, DocumentKind

log = get_logger("documents.storage")


# Segments of letters, digits, "_", "-" and inner dots: no "..", no absolute paths, no "\".
_KEY_RE = re.compile(
    r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*(?:/[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)*"
)
_VERSION_ATTEMPTS = 5


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # Readers see either no file or the whole file, never a half-written one.
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # Persist the rename itself; not every platform can fsync a directory.
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class DocumentStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, storage_key: str) -> Path:
        """The file of a key, refusing any key that could leave the storage directory."""
        if len(storage_key) > 255 or not _KEY_RE.fullmatch(storage_key):
            raise DocumentCorrupted("the document's storage key is invalid")
        root = self.root.resolve()
        path = (root / storage_key).resolve()
        if not path.is_relative_to(root):
            # Only a symlink inside the storage directory can get here.
            raise DocumentCorrupted("the document's storage key is invalid")
        return path

    @staticmethod
    def new_key(customer_id: int, kind: DocumentKind) -> str:
        return f"{int(customer_id)}/{DocumentKind(kind).value}/{uuid.uuid4().hex}.pdf"

    async def save(
        self,
        session: AsyncSession,
        *,
        customer_id: int,
        kind: DocumentKind,
        period: str,
        data: bytes,
        title: str,
        content_type: str = "application/pdf",
        actor: Actor | None = None,
    ) -> Document:
        """Store `data` as the next version of (customer, kind, period) and add its row.

        The file is written before the row; if the transaction later rolls back, an orphan file
        remains, which is harmless (nothing points to it)."""
        key = self.new_key(customer_id, kind)
        path = self.path_for(key)
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError as exc:
            log.error("document write failed", key=key, error=type(exc).__name__)
            raise StorageUnavailable() from exc

        sha256 = hashlib.sha256(data).hexdigest()
        for _ in range(_VERSION_ATTEMPTS):
            version = await repository.next_version(session, customer_id, kind, period)
            document = Document(
                customer_id=customer_id,
                kind=kind,
                title=title,
                period=period,
                version=version,
                storage_key=key,
                content_type=content_type,
                size=len(data),
                sha256=sha256,
            )
            try:
                # A concurrent save may take the same version number; the unique constraint
                # refuses it and the savepoint lets us retry with the next one.
                async with savepoint(session):
                    session.add(document)
                    await session.flush()
            except IntegrityError as exc:
                if "uq_documents_version" not in str(exc):
                    raise
                continue
            await audit.record(
                session,
                "document.create",
                actor,
                "document",
                document.id,
                customer_id=customer_id,
                kind=kind.value,
                period=period,
                version=version,
                sha256=sha256,
            )
            return document
        raise Conflict("could not allocate a document version; try again")

    async def open(self, document: Document) -> bytes:
        """The file's bytes, verified against the stored size and SHA-256."""
        path = self.path_for(document.storage_key)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            log.error("document file missing", document_id=document.id)
            raise DocumentCorrupted("the document file is missing") from exc
        except OSError as exc:
            log.error("document read failed", document_id=document.id, error=type(exc).__name__)
            raise StorageUnavailable() from exc
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != document.size or not hmac.compare_digest(digest, document.sha256):
            log.error("document file altered", document_id=document.id)
            raise DocumentCorrupted("the document file does not match its checksum")
        return data
