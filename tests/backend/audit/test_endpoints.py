from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.models import Role
from tests.factories import make_ticket

API = "/api/v1"
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


async def _seed(session, admin_id: int, agent_id: int) -> None:
    admin, agent = Actor(admin_id, Role.admin), Actor(agent_id, Role.agent)
    rows = [
        ("ticket.update", agent, "ticket", 1, T0),
        ("ticket.message", agent, "ticket", 1, T0 + timedelta(hours=1)),
        ("ticket.update", admin, "ticket", 2, T0 + timedelta(hours=2)),
        ("document.download", agent, "document", 5, T0 + timedelta(days=1)),
        ("auth.login", None, "user", agent_id, T0 + timedelta(days=2)),
    ]
    for action, actor, object_type, object_id, at in rows:
        entry = await audit.record(session, action, actor, object_type, object_id, note="x")
        entry.at = at
    await session.commit()


async def _get(client, headers, **params):
    r = await client.get(f"{API}/audit", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_admin_filters_the_log(client, session, as_staff):
    admin, headers = await as_staff(Role.admin)
    agent, _ = await as_staff()
    await _seed(session, admin.id, agent.id)

    everything = await _get(client, headers)
    actions = [e["action"] for e in everything["items"]]
    # Newest first.
    assert actions == [
        "auth.login",
        "document.download",
        "ticket.update",
        "ticket.message",
        "ticket.update",
    ]
    assert everything["next_before_id"] is None
    first = everything["items"][-1]
    assert first["actor_user_id"] == agent.id
    assert first["actor_role"] == "agent"
    assert first["object_type"] == "ticket"
    assert first["object_id"] == "1"
    assert first["details"] == {"note": "x"}
    assert first["at"].startswith("2026-01-10T12:00:00")

    def acts(page):
        return [(e["action"], e["object_id"]) for e in page["items"]]

    assert acts(await _get(client, headers, action="ticket.update")) == [
        ("ticket.update", "2"),
        ("ticket.update", "1"),
    ]
    assert acts(await _get(client, headers, object_type="ticket", object_id="1")) == [
        ("ticket.message", "1"),
        ("ticket.update", "1"),
    ]
    assert acts(await _get(client, headers, actor_user_id=admin.id)) == [("ticket.update", "2")]
    assert acts(await _get(client, headers, object_type="document")) == [("document.download", "5")]
    window = await _get(
        client,
        headers,
        since=(T0 + timedelta(minutes=30)).isoformat(),
        until=(T0 + timedelta(days=1)).isoformat(),
    )
    # `since` inclusive, `until` exclusive.
    assert acts(window) == [("ticket.update", "2"), ("ticket.message", "1")]
    # Without an offset a timestamp is UTC.
    naive = await _get(client, headers, since="2026-01-11T12:00:00")
    assert acts(naive) == [("auth.login", str(agent.id)), ("document.download", "5")]
    assert acts(await _get(client, headers, action="nothing.here")) == []


async def test_cursor_pages_backwards(client, session, as_staff):
    admin, headers = await as_staff(Role.admin)
    agent, _ = await as_staff()
    await _seed(session, admin.id, agent.id)

    seen: list[int] = []
    page = await _get(client, headers, limit=2)
    while True:
        seen.extend(e["id"] for e in page["items"])
        if page["next_before_id"] is None:
            break
        page = await _get(client, headers, limit=2, before_id=page["next_before_id"])

    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"before_id": 0},
        {"actor_user_id": "me"},
        {"since": "yesterday"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"action": "x" * 65},
        {"action": "a\x00b"},
        {"object_id": "x" * 65},
        {"sort": "id"},
    ],
)
async def test_bad_parameters(client, as_staff, params):
    _, headers = await as_staff(Role.admin)
    r = await client.get(f"{API}/audit", params=params, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"


async def test_limit_bounds_are_accepted(client, as_staff):
    _, headers = await as_staff(Role.admin)
    for limit in (1, 500):
        assert (await _get(client, headers, limit=limit))["items"] == []


async def test_agent_is_refused(client, as_staff):
    _, headers = await as_staff()
    r = await client.get(f"{API}/audit", headers=headers)
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"


async def test_customer_is_refused(client, as_customer):
    _, headers = await as_customer()
    r = await client.get(f"{API}/audit", headers=headers)
    assert r.status_code == 403


async def test_admin_without_2fa_is_refused(client, as_staff):
    _, headers = await as_staff(Role.admin, mfa=False)
    r = await client.get(f"{API}/audit", headers=headers)
    assert r.status_code == 403
    assert r.json()["error"] == "mfa_required"


async def test_anonymous_is_refused(client):
    r = await client.get(f"{API}/audit")
    assert r.status_code == 401


async def test_ticket_changes_are_in_the_log(client, session, as_customer, as_staff):
    customer, customer_headers = await as_customer()
    agent, agent_headers = await as_staff()
    _, admin_headers = await as_staff(Role.admin)
    other = await make_ticket(session, customer)
    await session.commit()

    r = await client.post(
        f"{API}/tickets",
        json={"subject": "Нет интернета", "description": "С утра"},
        headers={**customer_headers, "User-Agent": "pytest-agent"},
    )
    ticket_id = r.json()["id"]
    await client.patch(
        f"{API}/tickets/{ticket_id}", json={"status": "in_progress"}, headers=agent_headers
    )
    await client.post(
        f"{API}/tickets/{ticket_id}/messages", json={"body": "Смотрим"}, headers=agent_headers
    )

    page = await _get(client, admin_headers, object_type="ticket", object_id=str(ticket_id))

    entries = page["items"]
    assert [e["action"] for e in entries] == ["ticket.message", "ticket.update", "ticket.create"]
    assert entries[2]["actor_user_id"] == customer.user_id
    assert entries[2]["user_agent"] == "pytest-agent"
    assert entries[2]["ip"] == "203.0.113.7"
    assert entries[1]["actor_user_id"] == agent.id
    assert entries[1]["details"]["changes"] == {"status": ["open", "in_progress"]}
    assert entries[0]["details"]["internal"] is False
    assert all(e["object_id"] != str(other.id) for e in entries)
