from __future__ import annotations

import asyncio
import hashlib
import re

import pytest
from sqlalchemy import select

from backend.documents.storage import DocumentCorrupted, DocumentStorage, StorageUnavailable
from backend.models import AuditEntry, DocumentKind
from tests.factories import make_customer, make_document

PDF = b"%PDF-1.4\n% test document\n%%EOF\n"


async def test_save_writes_file_and_row(session, storage, documents_dir):
    _, customer = await make_customer(session)

    doc = await storage.save(
        session,
        customer_id=customer.id,
        kind=DocumentKind.act,
        period="2026-11",
        data=PDF,
        title="Акт за ноябрь",
    )

    assert doc.id is not None
    assert re.fullmatch(rf"{customer.id}/act/[0-9a-f]{{32}}\.pdf", doc.storage_key)
    path = documents_dir / doc.storage_key
    assert path.read_bytes() == PDF
    assert doc.sha256 == hashlib.sha256(PDF).hexdigest()
    assert doc.size == len(PDF)
    assert (doc.version, doc.period, doc.title) == (1, "2026-11", "Акт за ноябрь")
    # Atomic writes leave no temporary files behind.
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    await session.flush()
    [entry] = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "document.create"))
    ).all()
    assert entry.object_id == str(doc.id)
    assert entry.details["version"] == 1


async def test_versions_count_per_customer_kind_and_period(session, storage):
    _, a = await make_customer(session)
    _, b = await make_customer(session)

    async def save(customer, kind, period):
        doc = await storage.save(
            session, customer_id=customer.id, kind=kind, period=period, data=PDF, title="t"
        )
        return doc.version

    assert await save(a, DocumentKind.act, "2026-11") == 1
    assert await save(a, DocumentKind.act, "2026-11") == 2
    assert await save(a, DocumentKind.act, "2026-12") == 1
    assert await save(a, DocumentKind.invoice, "2026-11") == 1
    assert await save(b, DocumentKind.act, "2026-11") == 1
    assert await save(a, DocumentKind.act, "2026-11") == 3


async def test_concurrent_saves_get_distinct_versions(resources, session, storage):
    _, customer = await make_customer(session)
    await session.commit()

    async with resources.sessionmaker() as first, resources.sessionmaker() as second:
        one = await storage.save(
            first, customer_id=customer.id, kind=DocumentKind.act, period="p", data=PDF, title="t"
        )
        # The second save computes the same next version and waits on the unique index until
        # the first commits, then retries with the following number.
        racing = asyncio.create_task(
            storage.save(
                second,
                customer_id=customer.id,
                kind=DocumentKind.act,
                period="p",
                data=b"%PDF other",
                title="t",
            )
        )
        await asyncio.sleep(0.3)
        await first.commit()
        two = await racing
        await second.commit()

    assert (one.version, two.version) == (1, 2)


async def test_user_input_never_reaches_the_path(session, storage, documents_dir):
    _, customer = await make_customer(session)
    doc = await storage.save(
        session,
        customer_id=customer.id,
        kind=DocumentKind.invoice,
        period="../../../etc/passwd",
        data=PDF,
        title="../../evil.sh",
    )
    assert ".." not in doc.storage_key
    assert "etc" not in doc.storage_key
    assert (documents_dir / doc.storage_key).resolve().is_relative_to(documents_dir.resolve())
    assert doc.period == "../../../etc/passwd"


async def test_open_returns_verified_bytes(session, storage):
    _, customer = await make_customer(session)
    doc = await storage.save(
        session, customer_id=customer.id, kind=DocumentKind.contract, period="", data=PDF, title="t"
    )
    assert await storage.open(doc) == PDF


@pytest.mark.parametrize(
    "tamper",
    [
        lambda data: data.replace(b"test", b"TEST"),  # same size, other content
        lambda data: data[:-3],  # truncated
        lambda data: data + b"appended",
        lambda data: b"",
    ],
)
async def test_altered_file_is_reported(session, storage, documents_dir, tamper):
    _, customer = await make_customer(session)
    doc = await storage.save(
        session, customer_id=customer.id, kind=DocumentKind.act, period="x", data=PDF, title="t"
    )
    path = documents_dir / doc.storage_key
    path.write_bytes(tamper(PDF))

    with pytest.raises(DocumentCorrupted) as info:
        await storage.open(doc)
    assert info.value.code == "document_corrupted"
    assert info.value.status == 409
    assert "checksum" in info.value.detail


async def test_missing_file_is_reported(session, storage, documents_dir):
    _, customer = await make_customer(session)
    doc = await storage.save(
        session, customer_id=customer.id, kind=DocumentKind.act, period="x", data=PDF, title="t"
    )
    (documents_dir / doc.storage_key).unlink()

    with pytest.raises(DocumentCorrupted) as info:
        await storage.open(doc)
    assert "missing" in info.value.detail


@pytest.mark.parametrize(
    "key",
    [
        "../outside.pdf",
        "a/../../outside.pdf",
        "/etc/passwd",
        "..",
        "a/./b.pdf",
        "a\\..\\b.pdf",
        "a//b.pdf",
        "",
        "a/b.pdf\x00",
        "x" * 300,
    ],
)
async def test_unsafe_storage_keys_are_refused(session, storage, documents_dir, key):
    # A file really exists just outside the storage directory.
    documents_dir.mkdir(parents=True, exist_ok=True)
    (documents_dir.parent / "outside.pdf").write_bytes(PDF)
    _, customer = await make_customer(session)
    doc = await make_document(session, customer, content=PDF)
    doc.storage_key = key  # never flushed: PostgreSQL would refuse some of these anyway

    with pytest.raises(DocumentCorrupted):
        await storage.open(doc)


async def test_symlink_out_of_the_directory_is_refused(session, storage, documents_dir, tmp_path):
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(PDF)
    (documents_dir / "links").mkdir(parents=True)
    (documents_dir / "links" / "doc.pdf").symlink_to(secret)
    _, customer = await make_customer(session)
    doc = await make_document(session, customer, content=PDF, storage_key="links/doc.pdf")

    with pytest.raises(DocumentCorrupted):
        await storage.open(doc)


async def test_unwritable_storage_is_unavailable_not_a_crash(session, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    storage = DocumentStorage(blocker)
    _, customer = await make_customer(session)

    with pytest.raises(StorageUnavailable) as info:
        await storage.save(
            session, customer_id=customer.id, kind=DocumentKind.act, period="x", data=PDF, title="t"
        )
    assert info.value.status == 503
