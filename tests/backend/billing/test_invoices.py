from __future__ import annotations

from backend.models import InvoiceStatus, Role
from tests.factories import make_invoice

INVOICES = "/api/v1/invoices"


async def test_customer_lists_own_invoices_newest_first(client, session, as_customer):
    customer, headers = await as_customer()
    other, _ = await as_customer()
    paid = await make_invoice(session, customer, status=InvoiceStatus.paid, amount=50000)
    pending = await make_invoice(session, customer, amount=70000)
    await make_invoice(session, other)
    await session.commit()

    r = await client.get(INVOICES, headers=headers)

    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == [pending.id, paid.id]
    assert items[0]["number"] == pending.number
    assert items[0]["amount"] == 70000
    assert items[0]["status"] == "pending"
    assert items[0]["due_date"] == pending.due_date.isoformat()
    assert r.json()["next_before_id"] is None

    only_paid = await client.get(INVOICES, params={"status": "paid"}, headers=headers)
    assert [i["id"] for i in only_paid.json()["items"]] == [paid.id]

    page = await client.get(INVOICES, params={"limit": 1}, headers=headers)
    assert [i["id"] for i in page.json()["items"]] == [pending.id]
    rest = await client.get(
        INVOICES,
        params={"limit": 1, "before_id": page.json()["next_before_id"]},
        headers=headers,
    )
    assert [i["id"] for i in rest.json()["items"]] == [paid.id]


async def test_customer_cannot_list_or_read_another_customers_invoices(
    client, session, as_customer
):
    _, headers = await as_customer()
    other, _ = await as_customer()
    theirs = await make_invoice(session, other)
    await session.commit()

    listed = await client.get(INVOICES, params={"customer_id": other.id}, headers=headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == []

    r = await client.get(f"{INVOICES}/{theirs.id}", headers=headers)
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    # indistinguishable from an id that does not exist
    missing = await client.get(f"{INVOICES}/{theirs.id + 1000}", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == r.json()


async def test_customer_reads_own_invoice(client, session, as_customer):
    customer, headers = await as_customer()
    invoice = await make_invoice(session, customer, amount=12345)
    await session.commit()

    r = await client.get(f"{INVOICES}/{invoice.id}", headers=headers)

    assert r.status_code == 200, r.text
    assert r.json()["amount"] == 12345
    assert r.json()["paid_amount"] == 0
    assert r.json()["customer_id"] == customer.id


async def test_staff_reads_any_customers_invoices(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    invoice = await make_invoice(session, customer)
    await session.commit()
    _, agent = await as_staff(Role.agent)

    no_customer = await client.get(INVOICES, headers=agent)
    assert (no_customer.status_code, no_customer.json()["error"]) == (422, "validation_error")

    listed = await client.get(INVOICES, params={"customer_id": customer.id}, headers=agent)
    assert listed.status_code == 200, listed.text
    assert [i["id"] for i in listed.json()["items"]] == [invoice.id]

    unknown = await client.get(INVOICES, params={"customer_id": 999999}, headers=agent)
    assert unknown.status_code == 404

    one = await client.get(f"{INVOICES}/{invoice.id}", headers=agent)
    assert one.status_code == 200
    assert one.json()["number"] == invoice.number


async def test_staff_without_2fa_is_refused(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    invoice = await make_invoice(session, customer)
    await session.commit()
    _, headers = await as_staff(Role.agent, mfa=False)

    for url, params in (
        (INVOICES, {"customer_id": customer.id}),
        (f"{INVOICES}/{invoice.id}", {}),
    ):
        r = await client.get(url, params=params, headers=headers)
        assert r.status_code == 403
        assert r.json()["error"] == "mfa_required"


async def test_invoice_bad_input(client, as_customer):
    _, headers = await as_customer()

    for url, params in (
        (INVOICES, {"status": "lost"}),
        (INVOICES, {"limit": 0}),
        (INVOICES, {"limit": 1000}),
        (INVOICES, {"customer_id": "abc"}),
        (f"{INVOICES}/abc", {}),
        (f"{INVOICES}/0", {}),
    ):
        r = await client.get(url, params=params, headers=headers)
        assert r.status_code == 422, (url, params)
        assert r.json()["error"] == "validation_error"
    assert (await client.get(INVOICES)).status_code == 401
