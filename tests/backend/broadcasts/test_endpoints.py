"""The admin API of broadcasts: who may use it, what it refuses, the preview of each segment,
creating, listing and cancelling a scheduled one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from backend.models import AuditEntry, Broadcast, OutboxMessage, Role
from tests.backend.broadcasts.conftest import URL, body, town


async def erase(client, admin, customer_id: int) -> None:
    r = await client.post(f"/api/v1/admin/customers/{customer_id}/anonymise", headers=admin)
    assert r.status_code == 200, r.text


async def test_admins_only(client, as_staff, as_customer):
    _, customer = await as_customer()
    _, agent = await as_staff(Role.agent)
    _, admin_without_2fa = await as_staff(Role.admin, mfa=False)
    calls = [
        ("POST", URL, body()),
        ("POST", f"{URL}/preview", {"segment": {"type": "everyone"}}),
        ("GET", URL, None),
        ("GET", f"{URL}/1", None),
        ("POST", f"{URL}/1/cancel", None),
    ]
    for method, url, json in calls:
        assert (await client.request(method, url, json=json)).status_code == 401
        for headers in (customer, agent):
            r = await client.request(method, url, json=json, headers=headers)
            assert r.status_code == 403 and r.json()["error"] == "forbidden", (method, url)
        r = await client.request(method, url, json=json, headers=admin_without_2fa)
        assert r.status_code == 403 and r.json()["error"] == "mfa_required"


async def test_bad_input_is_422_and_changes_nothing(client, session, as_staff):
    _, admin = await as_staff(Role.admin)
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    bad = [
        body(segment={"type": "galaxy"}),
        body(segment={}),
        body(segment="everyone"),
        body(segment={"type": "everyone", "area": "a1"}),
        body(segment={"type": "area"}),
        body(segment={"type": "area", "area": ""}),
        body(segment={"type": "node", "node": "n" * 65}),
        body(segment={"type": "tariff"}),
        body(segment={"type": "tariff", "tariff_id": 1, "tariff_name": "Basic"}),
        body(segment={"type": "tariff", "tariff_id": 0}),
        body(segment={"type": "tariff", "tariff_id": 999}),  # no such tariff
        body(segment={"type": "tariff", "tariff_name": "Nope"}),
        body(segment={"type": "contracts", "contracts": []}),
        body(segment={"type": "contracts", "contracts": ["C-1"] * 10_001}),
        body(segment={"type": "contracts", "contracts": ["C\n1"]}),
        body(texts={}),
        body(texts={"ru": "   "}),
        body(texts={"en": "English only"}),  # the default language (ru) is required
        body(texts={"ru": "x" * 3501}),
        body(texts={"ru": "NUL\x00"}),
        body(texts={"ru": "ok", "de": "Hallo"}),
        body(title=""),
        body(title="two\nlines"),
        body(marketing="yes"),
        body(scheduled_at="2030-01-01T10:00:00"),  # no offset
        body(scheduled_at=past),
        body(scheduled_at="2999-01-01T10:00:00+00:00"),
        body(rate_per_second=0),
        body(status="sent"),
    ]
    for payload in bad:
        r = await client.post(URL, json=payload, headers=admin)
        assert r.status_code == 422, (payload, r.text)
        assert r.json()["error"] == "validation_error"
    for raw in (b"not json", b"[]", b'{"title": "x"'):
        r = await client.post(
            URL, content=raw, headers={**admin, "Content-Type": "application/json"}
        )
        assert r.status_code == 422
    r = await client.post(f"{URL}/preview", json={"segment": {"type": "x"}}, headers=admin)
    assert r.status_code == 422
    assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0
    assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    for path in (f"{URL}/0", f"{URL}/{2**63}", f"{URL}/abc"):
        assert (await client.get(path, headers=admin)).status_code == 422
    r = await client.get(URL, params={"status": "done"}, headers=admin)
    assert r.status_code == 422
    r = await client.get(f"{URL}/999", headers=admin)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await client.post(f"{URL}/999/cancel", headers=admin)
    assert r.status_code == 404


async def test_preview_counts_each_segment(client, session, as_staff):
    t = await town(session)
    _, admin = await as_staff(Role.admin)
    await erase(client, admin, t.erased)

    async def count(segment, marketing=False):
        r = await client.post(
            f"{URL}/preview", json={"segment": segment, "marketing": marketing}, headers=admin
        )
        assert r.status_code == 200, r.text
        return r.json()

    # the erased customer is in none, not even "everyone"
    assert (await count({"type": "everyone"}))["recipients"] == 4
    # current subscriptions of the tariff (the former customer's has ended)
    assert (await count({"type": "tariff", "tariff_id": t.basic_tariff}))["recipients"] == 2
    assert (await count({"type": "tariff", "tariff_name": "Fast"}))["recipients"] == 1
    assert (await count({"type": "area", "area": "a1"}))["recipients"] == 2
    assert (await count({"type": "area", "area": "nowhere"}))["recipients"] == 0
    assert (await count({"type": "node", "node": "n2"}))["recipients"] == 1
    assert (await count({"type": "debtors"}))["recipients"] == 2
    assert (await count({"type": "blocked"}))["recipients"] == 1
    found = await count({"type": "contracts", "contracts": ["C-1", "C-3", "C-1", "X-9", "C-5"]})
    assert found == {"recipients": 2, "unknown_contracts": ["X-9"]}
    # marketing: only those who opted in
    assert (await count({"type": "everyone"}, marketing=True))["recipients"] == 2
    assert (await count({"type": "debtors"}, marketing=True))["recipients"] == 1
    assert (await count({"type": "node", "node": "n2"}, marketing=True))["recipients"] == 0
    # a preview writes nothing
    assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0


async def test_create_list_get_and_cancel_a_scheduled_one(client, session, as_staff):
    await town(session)
    admin_user, admin = await as_staff(Role.admin)
    admin_id = admin_user.id  # the checks below expire the session
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    r = await client.post(
        URL,
        json=body(
            segment={"type": "tariff", "tariff_name": "Basic"},
            scheduled_at=later.isoformat(),
            rate_per_second=50,
            marketing=True,
        ),
        headers=admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "scheduled"
    assert created["segment"]["type"] == "tariff" and isinstance(
        created["segment"]["tariff_id"], int
    )
    assert created["scheduled_at"] == later.isoformat().replace("+00:00", "Z")
    assert created["created_by"] == admin_id and created["recipients"] == 0
    assert created["progress"] == {
        "queued": 0,
        "pending": 0,
        "sent": 0,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    now = await client.post(URL, json=body(title="Now"), headers=admin)
    assert now.status_code == 201
    assert now.json()["scheduled_at"] <= datetime.now(UTC).isoformat()

    r = await client.get(URL, headers=admin)
    assert [b["title"] for b in r.json()["items"]] == ["Now", "Плановые работы"]
    r = await client.get(URL, params={"status": "scheduled", "limit": 1}, headers=admin)
    page = r.json()
    assert len(page["items"]) == 1 and page["next_before_id"] == page["items"][0]["id"]
    r = await client.get(URL, params={"before_id": page["next_before_id"]}, headers=admin)
    assert [b["id"] for b in r.json()["items"]] == [created["id"]]
    r = await client.get(f"{URL}/{created['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["texts"]["en"] == "Maintenance 2-4 am."

    r = await client.post(f"{URL}/{created['id']}/cancel", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["cancelled_at"]
    again = await client.post(f"{URL}/{created['id']}/cancel", headers=admin)
    assert again.status_code == 200 and again.json()["cancelled_at"] == r.json()["cancelled_at"]

    session.expire_all()
    audit = await session.scalars(
        select(AuditEntry).where(AuditEntry.action.like("broadcast.%")).order_by(AuditEntry.id)
    )
    assert [(a.action, a.object_id, a.actor_user_id) for a in audit] == [
        ("broadcast.create", str(created["id"]), admin_id),
        ("broadcast.create", str(now.json()["id"]), admin_id),
        ("broadcast.cancel", str(created["id"]), admin_id),  # once: the repeat changed nothing
    ]
    assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_an_idempotency_key_makes_a_double_click_one_broadcast(client, session, as_staff):
    _, admin = await as_staff(Role.admin)
    headers = {**admin, "Idempotency-Key": "b7b1c1d2-0001"}
    first = await client.post(URL, json=body(), headers=headers)
    second = await client.post(URL, json=body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    other = await client.post(URL, json=body(title="Другая"), headers=headers)
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    assert await session.scalar(select(func.count()).select_from(Broadcast)) == 1
