"""Admins give agents and admins the name customers see when they join a conversation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.models import AuditEntry, Role
from tests.factories import make_customer

ME = "/api/v1/auth/me"


def user_url(user_id: int | str) -> str:
    return f"/api/v1/admin/users/{user_id}"


async def test_admin_sets_and_clears_a_display_name(client, session, as_staff):
    agent, agent_headers = await as_staff(Role.agent)
    admin, admin_headers = await as_staff(Role.admin)
    r = await client.patch(user_url(agent.id), headers=admin_headers,
                           json={"display_name": "  Анна  "})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "Анна" and r.json()["id"] == agent.id
    me = (await client.get(ME, headers=agent_headers)).json()
    assert me["display_name"] == "Анна"

    # the same name again changes nothing and is not audited twice
    r = await client.patch(user_url(agent.id), headers=admin_headers, json={"display_name": "Анна"})
    assert r.status_code == 200
    r = await client.patch(user_url(agent.id), headers=admin_headers, json={"display_name": None})
    assert r.status_code == 200 and r.json()["display_name"] is None
    assert (await client.get(ME, headers=agent_headers)).json()["display_name"] is None

    rows = (
        await session.execute(
            select(AuditEntry.actor_user_id, AuditEntry.object_id, AuditEntry.details)
            .where(AuditEntry.action == "user.display_name_set")
            .order_by(AuditEntry.id)
        )
    ).all()
    assert [(r[0], r[1], r[2]["before"], r[2]["after"]) for r in rows] == [
        (admin.id, str(agent.id), None, "Анна"),
        (admin.id, str(agent.id), "Анна", None),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": ""},
        {"display_name": "   "},
        {"display_name": "x" * 65},
        {"display_name": "Анна\nАдмин"},
        {"display_name": "Ann\u202egnp.exe"},  # a bidi override
        {"display_name": "An\u200bna"},  # zero-width space
        {},
        {"display_name": "Анна", "role": "admin"},
    ],
)
async def test_bad_display_names_are_refused(client, as_staff, body):
    agent, _ = await as_staff(Role.agent)
    _, admin_headers = await as_staff(Role.admin)
    r = await client.patch(user_url(agent.id), headers=admin_headers, json=body)
    assert r.status_code == 422, (body, r.text)


async def test_only_admins_set_display_names_and_only_for_staff(client, session, as_staff):
    agent, agent_headers = await as_staff(Role.agent)
    _, admin_headers = await as_staff(Role.admin)
    r = await client.patch(user_url(agent.id), headers=agent_headers, json={"display_name": "Я"})
    assert r.status_code == 403
    r = await client.patch(user_url(agent.id), json={"display_name": "Я"})
    assert r.status_code == 401

    customer_user, _ = await make_customer(session)
    await session.commit()
    assert customer_user is not None
    r = await client.patch(user_url(customer_user.id), headers=admin_headers,
                           json={"display_name": "Пётр"})  # fmt: skip
    assert r.status_code == 409 and r.json()["error"] == "display_name_not_applicable"
    r = await client.patch(user_url(999999), headers=admin_headers, json={"display_name": "X"})
    assert r.status_code == 404
