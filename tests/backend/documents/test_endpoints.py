from __future__ import annotations

import hashlib
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from backend.documents.endpoints import attachment_disposition
from backend.models import AuditEntry, Document, DocumentKind, Role
from tests.factories import signed_in_user

API = "/api/v1"
PDF = b"%PDF-1.4\n% provider-desk test\n%%EOF\n"


async def _save(session, storage, customer, *, kind=DocumentKind.act, period="2026-11", **kw):
    values = {"data": PDF, "title": "Акт за ноябрь 2026"}
    values.update(kw)
    return await storage.save(session, customer_id=customer.id, kind=kind, period=period, **values)


async def _downloads(session) -> list[AuditEntry]:
    query = (
        select(AuditEntry)
        .where(AuditEntry.action == "document.download")
        .order_by(AuditEntry.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(query)).all())


# --- listing and metadata -------------------------------------------------------------------


async def test_customer_lists_own_documents(client, session, as_customer, storage):
    customer, headers = await as_customer()
    other, _ = await as_customer()
    contract = await _save(session, storage, customer, kind=DocumentKind.contract, period="")
    act = await _save(session, storage, customer)
    act_v2 = await _save(session, storage, customer)
    await _save(session, storage, other)
    await session.commit()

    r = await client.get(f"{API}/documents", headers=headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["id"] for d in body["items"]] == [act_v2.id, act.id, contract.id]
    assert body["total"] == 3
    assert "storage_key" not in body["items"][0]
    assert body["items"][0]["version"] == 2

    r = await client.get(f"{API}/documents", params={"kind": "contract"}, headers=headers)
    assert [d["id"] for d in r.json()["items"]] == [contract.id]
    r = await client.get(f"{API}/documents", params={"period": "2026-11"}, headers=headers)
    assert {d["id"] for d in r.json()["items"]} == {act.id, act_v2.id}
    r = await client.get(f"{API}/documents", params={"limit": 1, "offset": 2}, headers=headers)
    assert [d["id"] for d in r.json()["items"]] == [contract.id]
    r = await client.get(f"{API}/documents", params={"customer_id": customer.id}, headers=headers)
    assert r.json()["total"] == 3


async def test_customer_cannot_list_another_customers_documents(
    client, session, as_customer, storage
):
    _, headers = await as_customer()
    other, _ = await as_customer()
    await _save(session, storage, other)
    await session.commit()

    r = await client.get(f"{API}/documents", params={"customer_id": other.id}, headers=headers)

    assert r.status_code == 404
    r = await client.get(f"{API}/documents", headers=headers)
    assert r.json()["items"] == []


async def test_staff_list_requires_customer_id(client, session, as_customer, as_staff, storage):
    customer, _ = await as_customer()
    doc = await _save(session, storage, customer)
    _, staff = await as_staff()
    await session.commit()

    r = await client.get(f"{API}/documents", headers=staff)
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"

    r = await client.get(f"{API}/documents", params={"customer_id": customer.id}, headers=staff)
    assert r.status_code == 200
    assert [d["id"] for d in r.json()["items"]] == [doc.id]

    r = await client.get(f"{API}/documents", params={"customer_id": 10**9}, headers=staff)
    assert r.status_code == 404


@pytest.mark.parametrize(
    "params", [{"kind": "passport"}, {"limit": 0}, {"limit": 201}, {"period": "x" * 33}, {"x": 1}]
)
async def test_bad_list_parameters(client, as_customer, params):
    _, headers = await as_customer()
    r = await client.get(f"{API}/documents", params=params, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"


async def test_metadata(client, session, as_customer, storage):
    customer, headers = await as_customer()
    doc = await _save(session, storage, customer)
    await session.commit()

    r = await client.get(f"{API}/documents/{doc.id}", headers=headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (body["kind"], body["period"], body["version"], body["size"]) == (
        "act",
        "2026-11",
        1,
        len(PDF),
    )
    assert "storage_key" not in body


async def test_customer_cannot_read_or_download_another_customers_document(
    client, session, as_customer, storage
):
    _, headers_a = await as_customer()
    customer_b, _ = await as_customer()
    doc_b = await _save(session, storage, customer_b)
    await session.commit()

    meta = await client.get(f"{API}/documents/{doc_b.id}", headers=headers_a)
    assert meta.status_code == 404
    download = await client.get(f"{API}/documents/{doc_b.id}/download", headers=headers_a)
    assert download.status_code == 404
    assert PDF not in download.content
    # Indistinguishable from a document that does not exist.
    missing = await client.get(f"{API}/documents/{doc_b.id + 1000}/download", headers=headers_a)
    assert missing.status_code == 404
    assert missing.json() == download.json()
    assert await _downloads(session) == []


# --- download -------------------------------------------------------------------------------


async def test_customer_downloads_own_document(client, session, as_customer, storage):
    customer, headers = await as_customer()
    doc = await _save(session, storage, customer)
    await session.commit()

    r = await client.get(f"{API}/documents/{doc.id}/download", headers=headers)

    assert r.status_code == 200, r.text
    assert r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["etag"] == f'"{hashlib.sha256(PDF).hexdigest()}"'
    assert r.headers["x-content-type-options"] == "nosniff"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="act-2026-11-v1.pdf"' in disposition
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == "Акт за ноябрь 2026.pdf"
    disposition.encode("ascii")  # headers must be plain ASCII
    [entry] = await _downloads(session)
    assert entry.object_type == "document"
    assert entry.object_id == str(doc.id)
    assert entry.actor_user_id == customer.user_id


async def test_staff_downloads_any_document(client, session, as_customer, as_staff, storage):
    customer, _ = await as_customer()
    doc = await _save(session, storage, customer)
    agent, staff = await as_staff()
    await session.commit()

    r = await client.get(f"{API}/documents/{doc.id}/download", headers=staff)

    assert r.status_code == 200
    assert r.content == PDF
    [entry] = await _downloads(session)
    assert entry.actor_user_id == agent.id
    assert entry.actor_role == "agent"


async def test_if_none_match_answers_304(client, session, as_customer, storage):
    customer, headers = await as_customer()
    doc = await _save(session, storage, customer)
    await session.commit()
    etag = f'"{doc.sha256}"'

    r = await client.get(
        f"{API}/documents/{doc.id}/download", headers={**headers, "If-None-Match": etag}
    )
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == etag

    r = await client.get(
        f"{API}/documents/{doc.id}/download", headers={**headers, "If-None-Match": '"other"'}
    )
    assert r.status_code == 200
    assert r.content == PDF


async def test_tampered_file_is_a_clear_error(client, session, as_customer, storage, documents_dir):
    customer, headers = await as_customer()
    doc = await _save(session, storage, customer)
    await session.commit()
    (documents_dir / doc.storage_key).write_bytes(PDF.replace(b"test", b"evil"))

    r = await client.get(f"{API}/documents/{doc.id}/download", headers=headers)

    assert r.status_code == 409
    assert r.json()["error"] == "document_corrupted"
    assert "checksum" in r.json()["detail"]
    assert b"evil" not in r.content
    assert await _downloads(session) == []


async def test_missing_file_is_a_clear_error(client, session, as_customer, storage, documents_dir):
    customer, headers = await as_customer()
    doc = await _save(session, storage, customer)
    await session.commit()
    (documents_dir / doc.storage_key).unlink()

    r = await client.get(f"{API}/documents/{doc.id}/download", headers=headers)

    assert r.status_code == 409
    assert r.json()["error"] == "document_corrupted"
    assert "missing" in r.json()["detail"]


@pytest.mark.parametrize(
    "bad_id",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "%2E%2E",
        "..",
        "1%00",
        "abc",
        "0",
        "-5",
        "99999999999999999999",
    ],
)
@pytest.mark.parametrize("suffix", ["", "/download"])
async def test_bad_document_ids(client, session, as_customer, storage, bad_id, suffix):
    customer, headers = await as_customer()
    await _save(session, storage, customer)
    await session.commit()
    r = await client.get(f"{API}/documents/{bad_id}{suffix}", headers=headers)
    assert r.status_code in (404, 422), r.text
    assert r.json()["error"] in ("not_found", "validation_error")
    assert PDF not in r.content


@pytest.mark.parametrize("suffix", ["", "/download"])
async def test_agent_without_2fa_is_refused(
    client, session, as_customer, as_staff, storage, suffix
):
    customer, _ = await as_customer()
    doc = await _save(session, storage, customer)
    _, headers = await as_staff(mfa=False)
    await session.commit()
    r = await client.get(f"{API}/documents/{doc.id}{suffix}", headers=headers)
    assert r.status_code == 403
    assert r.json()["error"] == "mfa_required"
    r = await client.get(f"{API}/documents", params={"customer_id": customer.id}, headers=headers)
    assert r.json()["error"] == "mfa_required"


async def test_customer_role_without_customer_is_refused(
    client, session, as_customer, settings, storage
):
    customer, _ = await as_customer()
    doc = await _save(session, storage, customer)
    _, headers = await signed_in_user(session, settings, Role.customer)
    await session.commit()
    r = await client.get(f"{API}/documents/{doc.id}/download", headers=headers)
    assert r.status_code == 403


# --- file names -----------------------------------------------------------------------------


def _doc(title: str, kind=DocumentKind.invoice, period="INV-7", version=2) -> Document:
    return Document(id=7, title=title, kind=kind, period=period, version=version)


@pytest.mark.parametrize(
    ("title", "ascii_name", "full_name"),
    [
        ("Договор", "invoice-INV-7-v2.pdf", "Договор.pdf"),
        ("Invoice INV-7", "Invoice_INV-7.pdf", "Invoice INV-7.pdf"),
        ("Счёт №7 (ноябрь)", "invoice-INV-7-v2.pdf", "Счёт №7 (ноябрь).pdf"),
        ('a"b\r\nContent-Type: text/html', "a_b_Content-Type_text_html.pdf", None),
        ("../../etc/passwd", "etc_passwd.pdf", None),
        ("Café", "Cafe.pdf", "Café.pdf"),
        ("act.PDF", "act.pdf", "act.pdf"),
        ("", "invoice-INV-7-v2.pdf", "invoice-INV-7-v2.pdf"),
    ],
)
def test_attachment_disposition(title, ascii_name, full_name):
    value = attachment_disposition(_doc(title))

    value.encode("ascii")
    assert "\r" not in value
    assert "\n" not in value
    assert value.startswith(f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''")
    decoded = unquote(value.split("filename*=UTF-8''", 1)[1])
    assert "/" not in decoded
    assert '"' not in decoded
    if full_name is not None:
        assert decoded == full_name
