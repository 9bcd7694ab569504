"""Staff TOTP enrolment needs an admin-issued, single-use, short-lived enrolment link; a staff
account without 2FA gets no further than the mfa-pending step (docs/security.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import select, update

from backend.models import AuditEntry, EnrolmentLink, Role, User
from tests.factories import (
    DEFAULT_PASSWORD,
    access_token_for,
    auth_header,
    make_user,
)

LOGIN = "/api/v1/auth/login"
VERIFY = "/api/v1/auth/2fa/verify"
START = "/api/v1/auth/2fa/enrolment/start"
CONFIRM = "/api/v1/auth/2fa/enrolment/confirm"
CUSTOMERS = "/api/v1/customers"


def link_url(user_id: int | str) -> str:
    return f"/api/v1/admin/users/{user_id}/enrolment-link"


async def pending(client, login: str) -> str:
    r = await client.post(LOGIN, json={"login": login, "password": DEFAULT_PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mfa_required"] is True and body["tokens"] is None, body
    return str(body["mfa_token"])


def next_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))


async def test_staff_without_totp_cannot_enrol_or_sign_in_with_the_password_alone(
    client, session, settings
):
    agent = await make_user(session, role=Role.agent, email="newagent@example.com")
    await session.commit()
    # the password gets the mfa-pending step and no session
    mfa_token = await pending(client, "newagent@example.com")
    r = await client.post(VERIFY, json={"mfa_token": mfa_token, "code": "123456"})
    assert r.status_code == 403 and r.json()["error"] == "enrolment_link_required"
    # enrolment without an admin's link is refused, with the pending step ...
    r = await client.post(START, json={"mfa_token": mfa_token})
    assert r.status_code == 403 and r.json()["error"] == "enrolment_link_required"
    # ... and with a password-only session (as issued before this rule)
    legacy = auth_header(access_token_for(settings, agent, mfa=False))
    r = await client.post("/api/v1/auth/2fa/enroll", headers=legacy)
    assert r.status_code == 403 and r.json()["error"] == "enrolment_link_required"
    r = await client.post("/api/v1/auth/2fa/confirm", headers=legacy, json={"code": "123456"})
    assert r.status_code == 403 and r.json()["error"] == "enrolment_link_required"
    await session.refresh(agent)
    assert agent.totp_enabled is False and agent.totp_secret_encrypted is None


async def test_enrolment_with_an_admin_issued_link(client, session, as_staff):
    agent = await make_user(session, role=Role.agent, email="newagent@example.com")
    await session.commit()
    admin, admin_headers = await as_staff(Role.admin)
    r = await client.post(link_url(agent.id), headers=admin_headers)
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["user_id"] == agent.id and len(link["token"]) >= 32
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)

    mfa_token = await pending(client, "newagent@example.com")
    body = {"mfa_token": mfa_token, "enrolment_token": link["token"]}
    r = await client.post(START, json=body)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert r.json()["provisioning_uri"].startswith("otpauth://totp/")
    # a wrong code changes nothing: the link stays usable
    r = await client.post(CONFIRM, json={**body, "code": "000000"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_otp"
    r = await client.post(CONFIRM, json={**body, "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200, r.text
    confirmed = r.json()
    assert len(confirmed["recovery_codes"]) == 10
    staff = auth_header(confirmed["tokens"]["access_token"])
    assert (await client.get(CUSTOMERS, headers=staff)).status_code == 200

    # the link was single use
    again = await pending(client, "newagent@example.com")
    r = await client.post(START, json={"mfa_token": again, "enrolment_token": link["token"]})
    assert r.status_code == 409
    # and from now on the agent signs in with the code
    r = await client.post(VERIFY, json={"mfa_token": again, "code": next_code(secret)})
    assert r.status_code == 200, r.text

    actions = [
        (e.action, e.actor_user_id)
        for e in await session.scalars(
            select(AuditEntry).where(AuditEntry.object_id == str(agent.id)).order_by(AuditEntry.id)
        )
    ]
    assert ("auth.enrolment_link_issued", admin.id) in actions
    assert ("auth.totp_enabled", agent.id) in actions
    used = await session.scalar(select(EnrolmentLink).where(EnrolmentLink.user_id == agent.id))
    assert used is not None and used.used_at is not None
    assert link["token"] not in str(used.token_hash)


async def test_a_link_is_bound_to_its_user_short_lived_and_replaced_by_a_newer_one(
    client, session, as_staff
):
    one = await make_user(session, role=Role.agent, email="one@example.com")
    await make_user(session, role=Role.admin, email="two@example.com")
    await session.commit()
    _, admin_headers = await as_staff(Role.admin)
    first = (await client.post(link_url(one.id), headers=admin_headers)).json()["token"]
    # another staff account cannot use it
    r = await client.post(
        START,
        json={"mfa_token": await pending(client, "two@example.com"), "enrolment_token": first},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_enrolment_link"
    # a newer link voids the older one
    second = (await client.post(link_url(one.id), headers=admin_headers)).json()["token"]
    mfa_token = await pending(client, "one@example.com")
    r = await client.post(START, json={"mfa_token": mfa_token, "enrolment_token": first})
    assert r.status_code == 401 and r.json()["error"] == "invalid_enrolment_link"
    # an expired link is refused
    await session.execute(
        update(EnrolmentLink).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await session.commit()
    r = await client.post(START, json={"mfa_token": mfa_token, "enrolment_token": second})
    assert r.status_code == 401 and r.json()["error"] == "invalid_enrolment_link"
    r = await client.post(START, json={"mfa_token": mfa_token, "enrolment_token": "x" * 43})
    assert r.status_code == 401
    assert (await session.get(User, one.id, populate_existing=True)).totp_enabled is False
    rejected = await session.scalars(
        select(AuditEntry.action).where(AuditEntry.action == "auth.enrolment_link_rejected")
    )
    assert len(rejected.all()) == 4


async def test_only_admins_issue_links_and_only_for_staff_without_2fa(
    client, session, settings, as_staff, as_customer
):
    agent = await make_user(session, role=Role.agent)
    enrolled = await make_user(
        session, role=Role.agent, totp_secret=pyotp.random_base32(), settings=settings
    )
    gone = await make_user(session, role=Role.agent, is_active=False)
    await session.commit()
    customer, customer_headers = await as_customer()
    _, agent_headers = await as_staff(Role.agent)
    _, admin_headers = await as_staff(Role.admin)
    _, admin_without_2fa = await as_staff(Role.admin, mfa=False)
    assert (await client.post(link_url(agent.id))).status_code == 401
    for headers, code in (
        (agent_headers, "forbidden"),
        (customer_headers, "forbidden"),
        (admin_without_2fa, "mfa_required"),
    ):
        r = await client.post(link_url(agent.id), headers=headers)
        assert r.status_code == 403 and r.json()["error"] == code
    for target in (customer.user_id, enrolled.id, gone.id):
        r = await client.post(link_url(target), headers=admin_headers)
        assert r.status_code == 409 and r.json()["error"] == "enrolment_not_applicable", r.text
    r = await client.post(link_url(987654), headers=admin_headers)
    assert r.status_code == 404
    assert (await session.scalar(select(EnrolmentLink.id))) is None


async def test_customers_still_enrol_their_own_totp(client, as_customer):
    _, headers = await as_customer()
    r = await client.post("/api/v1/auth/2fa/enroll", headers=headers)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    r = await client.post(
        "/api/v1/auth/2fa/confirm", headers=headers, json={"code": pyotp.TOTP(secret).now()}
    )
    assert r.status_code == 200, r.text


async def test_demo_staff_keep_their_seeded_secrets(client, session, settings):
    from backend import seed

    await seed.seed_demo(session, settings)
    await session.commit()
    for login, password, secret in (
        (seed.DEMO_AGENT_EMAIL, seed.DEMO_AGENT_PASSWORD, seed.DEMO_AGENT_TOTP),
        (seed.DEMO_ADMIN_EMAIL, seed.DEMO_ADMIN_PASSWORD, seed.DEMO_ADMIN_TOTP),
    ):
        step = await client.post(LOGIN, json={"login": login, "password": password})
        assert step.json()["mfa_required"] is True
        r = await client.post(
            VERIFY, json={"mfa_token": step.json()["mfa_token"], "code": pyotp.TOTP(secret).now()}
        )
        assert r.status_code == 200, r.text
        assert (
            await client.get(CUSTOMERS, headers=auth_header(r.json()["access_token"]))
        ).status_code == 200
