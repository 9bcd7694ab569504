from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pyotp
from sqlalchemy import func, select

from backend.auth.tokens import encode_token
from backend.models import AuditEntry, OutboxMessage, RefreshToken, Role
from tests.factories import (
    DEFAULT_PASSWORD,
    access_token_for,
    auth_header,
    make_customer,
    make_user,
)

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"


async def login(client, login_, password=DEFAULT_PASSWORD):
    return await client.post(LOGIN, json={"login": login_, "password": password})


async def tokens_for(client, login_, password=DEFAULT_PASSWORD):
    r = await login(client, login_, password)
    assert r.status_code == 200, r.text
    return r.json()["tokens"]


# --- registration ------------------------------------------------------------------------


async def test_register_creates_customer_and_signs_in(client, session):
    r = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "New.Person@Example.com",
            "phone": "8 (912) 345-67-89",
            "password": "a-long-enough-password",
            "full_name": "Новый Клиент",
        },
    )
    assert r.status_code == 201, r.text
    access = r.json()["tokens"]["access_token"]
    me = (await client.get(ME, headers=auth_header(access))).json()
    assert me["email"] == "new.person@example.com"
    assert me["phone"] == "+79123456789"
    assert me["role"] == "customer"
    assert me["customer_id"] is not None
    # the same email again is refused, and the phone alone signs in
    again = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "new.person@example.com",
            "password": "another-long-one",
            "full_name": "X Y",
        },
    )
    assert again.status_code == 409
    assert again.json()["error"] == "already_registered"
    assert (await login(client, "+7 912 345 67 89", "a-long-enough-password")).status_code == 200
    actions = set(await session.scalars(select(AuditEntry.action)))
    assert {"auth.register", "customer.create", "auth.login"} <= actions


async def test_register_rejects_bad_input(client):
    cases = [
        {"email": "not-an-email", "password": "long-enough-pass", "full_name": "A B"},
        {"email": "a@example.com", "password": "short", "full_name": "A B"},
        {
            "email": "a@example.com",
            "password": "long-enough-pass",
            "full_name": "A B",
            "role": "admin",
        },
        {
            "email": "a@example.com",
            "password": "long-enough-pass",
            "full_name": "A B",
            "phone": "12",
        },
        {"email": "a@example.com", "password": "x" * 300, "full_name": "A B"},
    ]
    for body in cases:
        r = await client.post("/api/v1/auth/register", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"] in {"validation_error", "weak_password"}


# --- login --------------------------------------------------------------------------------


async def test_login_by_email_and_phone(client, session):
    await make_customer(session, email="ivan@example.com", phone="+79001112233")
    await session.commit()
    for name in ("ivan@example.com", "IVAN@example.com ", "+7 900 111-22-33", "89001112233"):
        r = await login(client, name)
        assert r.status_code == 200, (name, r.text)
        body = r.json()
        assert body["mfa_required"] is False
        assert body["tokens"]["token_type"] == "bearer"
        assert body["tokens"]["expires_in"] <= 15 * 60


async def test_wrong_password_and_unknown_user_look_the_same(client, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    wrong = await login(client, "ivan@example.com", "wrong-password")
    unknown = await login(client, "nobody@example.com", "wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "error": "invalid_credentials",
            "detail": "wrong login or password",
        }
    )
    failed = await session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "auth.login_failed")
    )
    assert failed == 2  # recorded although the request failed


async def test_inactive_user_cannot_log_in(client, session):
    await make_user(session, email="gone@example.com", is_active=False)
    await session.commit()
    assert (await login(client, "gone@example.com")).status_code == 401


async def test_login_rate_limit_per_account(client_with, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    async with client_with(login_failures_before_lockout=3) as c:
        for _ in range(3):
            assert (await login(c, "ivan@example.com", "bad-password")).status_code == 401
        blocked = await login(c, "ivan@example.com")  # even the right password
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "rate_limited"
        assert int(blocked.headers["Retry-After"]) > 0
        # other accounts are unaffected
        await make_customer(session, email="other@example.com")
        await session.commit()
        assert (await login(c, "other@example.com")).status_code == 200


async def test_login_rate_limit_per_ip(client_with, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    async with client_with(ip="198.51.100.9", login_attempts_per_ip_minute=5) as c:
        codes = [
            (await login(c, f"x{i}@example.com", "bad-password")).status_code for i in range(6)
        ]
        assert codes[:5] == [401] * 5
        assert codes[5] == 429
    async with client_with(ip="198.51.100.10", login_attempts_per_ip_minute=5) as c:
        assert (await login(c, "ivan@example.com")).status_code == 200


# --- refresh rotation ---------------------------------------------------------------------


async def test_refresh_rotates_and_reuse_revokes_family(client, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    first = await tokens_for(client, "ivan@example.com")
    r = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get(ME, headers=auth_header(second["access_token"]))).status_code == 200

    # The first token again: reuse. The whole family dies, including the fresh tokens.
    reuse = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.json()["error"] == "invalid_token"
    assert (
        await client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    ).status_code == 401
    assert (await client.get(ME, headers=auth_header(second["access_token"]))).status_code == 401
    revoked = await session.scalar(
        select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))
    )
    assert revoked == 0
    events = list(await session.scalars(select(AuditEntry.action)))
    assert "auth.refresh_reuse_detected" in events


async def test_two_concurrent_refreshes_exactly_one_wins(client, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    first = await tokens_for(client, "ivan@example.com")
    a, b = await asyncio.gather(
        client.post(REFRESH, json={"refresh_token": first["refresh_token"]}),
        client.post(REFRESH, json={"refresh_token": first["refresh_token"]}),
    )
    assert sorted([a.status_code, b.status_code]) == [200, 401]
    winner = a if a.status_code == 200 else b
    # the loser's attempt was a reuse: the family, and so the winner's tokens, are revoked
    again = await client.post(REFRESH, json={"refresh_token": winner.json()["refresh_token"]})
    assert again.status_code == 401


async def test_refresh_rejects_garbage_and_expired(client, session):
    user, _ = await make_customer(session, email="ivan@example.com")
    assert user is not None
    await session.commit()
    assert (await client.post(REFRESH, json={"refresh_token": "x" * 43})).status_code == 401
    assert (await client.post(REFRESH, json={})).status_code == 422
    tokens = await tokens_for(client, "ivan@example.com")
    row = await session.scalar(select(RefreshToken).where(RefreshToken.user_id == user.id))
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    await session.commit()
    assert (
        await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401


async def test_logout_revokes_access_and_refresh(client, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    tokens = await tokens_for(client, "ivan@example.com")
    other = await tokens_for(client, "ivan@example.com")  # a second device
    r = await client.post("/api/v1/auth/logout", headers=auth_header(tokens["access_token"]))
    assert r.status_code == 204
    assert (await client.get(ME, headers=auth_header(tokens["access_token"]))).status_code == 401
    assert (
        await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401
    # the other device's session lives on
    assert (await client.get(ME, headers=auth_header(other["access_token"]))).status_code == 200


# --- token validation ---------------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_tampered_expired_and_alg_none_tokens_rejected(client, session, settings):
    user, customer = await make_customer(session, email="ivan@example.com")
    assert user is not None
    await session.commit()
    good = access_token_for(settings, user, customer_id=customer.id)
    assert (await client.get(ME, headers=auth_header(good))).status_code == 200

    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged_claims = {**claims, "role": "admin"}
    tampered = f"{header}.{_b64(forged_claims)}.{signature}"
    alg_none = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(forged_claims)}."
    wrong_key = jwt.encode(
        forged_claims, "another-secret-key-another-secret-key", algorithm="HS256"
    )
    expired = encode_token(
        settings,
        typ="access",
        user_id=user.id,
        role=Role.customer,
        customer_id=customer.id,
        sid="s",
        amr=("pwd",),
        lifetime=timedelta(seconds=-60),
    )
    mfa_as_access = encode_token(
        settings,
        typ="mfa",
        user_id=user.id,
        role=Role.customer,
        customer_id=customer.id,
        sid="s",
        amr=("pwd",),
        lifetime=timedelta(minutes=5),
    )
    wrong_audience = jwt.encode(
        {**claims, "aud": "someone-else"}, settings.secret_key.get_secret_value(), algorithm="HS256"
    )
    for token in (tampered, alg_none, wrong_key, expired, mfa_as_access, wrong_audience, "abc"):
        r = await client.get(ME, headers=auth_header(token))
        assert r.status_code == 401, token
        assert r.json()["error"] == "invalid_token"
    assert (await client.get(ME)).status_code == 401
    assert (await client.get(ME, headers={"Authorization": "Basic abc"})).status_code == 401


# --- password recovery and change ---------------------------------------------------------


async def _reset_code(session) -> str:
    row = await session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.kind == "auth.password_reset_code")
        .order_by(OutboxMessage.id.desc())
    )
    assert row is not None
    await session.refresh(row)
    return str(row.payload["args"]["code"])


async def test_password_recovery_flow(client, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    old = await tokens_for(client, "ivan@example.com")
    r = await client.post("/api/v1/auth/password/forgot", json={"login": "ivan@example.com"})
    assert r.status_code == 202
    code = await _reset_code(session)
    row = await session.scalar(select(OutboxMessage))
    assert row.payload["channel"] == "email" and row.payload["to"] == "ivan@example.com"

    wrong = await client.post(
        "/api/v1/auth/password/reset",
        json={
            "login": "ivan@example.com",
            "code": "000000" if code != "000000" else "111111",
            "new_password": "brand-new-password",
        },
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_reset_code"
    ok = await client.post(
        "/api/v1/auth/password/reset",
        json={"login": "ivan@example.com", "code": code, "new_password": "brand-new-password"},
    )
    assert ok.status_code == 204, ok.text
    # old password and old sessions are gone, the code is single-use
    assert (await login(client, "ivan@example.com")).status_code == 401
    assert (await login(client, "ivan@example.com", "brand-new-password")).status_code == 200
    assert (await client.get(ME, headers=auth_header(old["access_token"]))).status_code == 401
    assert (
        await client.post(REFRESH, json={"refresh_token": old["refresh_token"]})
    ).status_code == 401
    again = await client.post(
        "/api/v1/auth/password/reset",
        json={"login": "ivan@example.com", "code": code, "new_password": "yet-another-password"},
    )
    assert again.status_code == 401


async def test_forgot_password_does_not_reveal_accounts(client, session):
    r = await client.post("/api/v1/auth/password/forgot", json={"login": "nobody@example.com"})
    assert r.status_code == 202
    assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_change_password_revokes_other_sessions(client, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    mine = await tokens_for(client, "ivan@example.com")
    other = await tokens_for(client, "ivan@example.com")
    bad = await client.post(
        "/api/v1/auth/password/change",
        headers=auth_header(mine["access_token"]),
        json={"current_password": "wrong-password", "new_password": "brand-new-password"},
    )
    assert bad.status_code == 401
    r = await client.post(
        "/api/v1/auth/password/change",
        headers=auth_header(mine["access_token"]),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "brand-new-password"},
    )
    assert r.status_code == 204, r.text
    assert (await client.get(ME, headers=auth_header(mine["access_token"]))).status_code == 200
    assert (await client.get(ME, headers=auth_header(other["access_token"]))).status_code == 401
    assert (
        await client.post(REFRESH, json={"refresh_token": other["refresh_token"]})
    ).status_code == 401
    assert (
        await client.post(REFRESH, json={"refresh_token": mine["refresh_token"]})
    ).status_code == 200


# --- TOTP ---------------------------------------------------------------------------------


async def _enroll(client, access: str) -> tuple[str, dict]:
    r = await client.post("/api/v1/auth/2fa/enroll", headers=auth_header(access))
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert r.json()["provisioning_uri"].startswith("otpauth://totp/")
    confirm = await client.post(
        "/api/v1/auth/2fa/confirm",
        headers=auth_header(access),
        json={"code": pyotp.TOTP(secret).now()},
    )
    assert confirm.status_code == 200, confirm.text
    return secret, confirm.json()


async def test_totp_enrol_login_and_replay_rejected(client, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    tokens = await tokens_for(client, "ivan@example.com")
    secret, confirmed = await _enroll(client, tokens["access_token"])
    assert len(confirmed["recovery_codes"]) == 10
    # the password-only session was replaced by one with the second factor
    assert (await client.get(ME, headers=auth_header(tokens["access_token"]))).status_code == 401
    me = await client.get(ME, headers=auth_header(confirmed["tokens"]["access_token"]))
    assert me.json()["totp_enabled"] is True and me.json()["mfa_satisfied"] is True

    step1 = (await login(client, "ivan@example.com")).json()
    assert step1["mfa_required"] is True and step1["tokens"] is None
    # the code used to confirm enrolment is spent: replaying it fails
    used = pyotp.TOTP(secret).now()
    replay = await client.post(
        "/api/v1/auth/2fa/verify", json={"mfa_token": step1["mfa_token"], "code": used}
    )
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_otp"
    # the next time step is accepted once, then it is a replay too
    nxt = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
    ok = await client.post(
        "/api/v1/auth/2fa/verify", json={"mfa_token": step1["mfa_token"], "code": nxt}
    )
    assert ok.status_code == 200, ok.text
    assert (await client.get(ME, headers=auth_header(ok.json()["access_token"]))).json()[
        "mfa_satisfied"
    ]
    step2 = (await login(client, "ivan@example.com")).json()
    again = await client.post(
        "/api/v1/auth/2fa/verify", json={"mfa_token": step2["mfa_token"], "code": nxt}
    )
    assert again.status_code == 401


async def test_recovery_code_works_once(client, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    tokens = await tokens_for(client, "ivan@example.com")
    _, confirmed = await _enroll(client, tokens["access_token"])
    code = confirmed["recovery_codes"][0]
    for expected in (200, 401):
        pending = (await login(client, "ivan@example.com")).json()["mfa_token"]
        r = await client.post(
            "/api/v1/auth/2fa/verify", json={"mfa_token": pending, "recovery_code": code}
        )
        assert r.status_code == expected


async def test_otp_attempts_are_rate_limited(client_with, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    async with client_with(otp_attempts_per_user_5min=3) as c:
        tokens = await tokens_for(c, "ivan@example.com")
        secret, _ = await _enroll(c, tokens["access_token"])
        pending = (await login(c, "ivan@example.com")).json()["mfa_token"]
        codes = []
        for _ in range(4):
            r = await c.post(
                "/api/v1/auth/2fa/verify", json={"mfa_token": pending, "code": "000000"}
            )
            codes.append(r.status_code)
        assert codes == [401, 401, 401, 429]
        good = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
        r = await c.post("/api/v1/auth/2fa/verify", json={"mfa_token": pending, "code": good})
        assert r.status_code == 429  # still locked out, even with a right code


async def test_password_reset_cannot_bypass_totp(client, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    tokens = await tokens_for(client, "ivan@example.com")
    secret, _ = await _enroll(client, tokens["access_token"])
    await client.post("/api/v1/auth/password/forgot", json={"login": "ivan@example.com"})
    code = await _reset_code(session)
    body = {"login": "ivan@example.com", "code": code, "new_password": "brand-new-password"}
    r = await client.post("/api/v1/auth/password/reset", json=body)
    assert r.status_code == 403
    assert r.json()["error"] == "mfa_required"
    assert (await login(client, "ivan@example.com", "brand-new-password")).status_code == 401
    nxt = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
    r = await client.post("/api/v1/auth/password/reset", json={**body, "otp_code": nxt})
    assert r.status_code == 204, r.text
    assert (await login(client, "ivan@example.com", "brand-new-password")).json()["mfa_required"]


async def test_staff_cannot_disable_totp_but_customers_can(client, session, settings):
    agent = await make_user(
        session, role=Role.agent, totp_secret="AGENTTOTPDEMOSECRETAGENTTOTPDEMO", settings=settings
    )
    await session.commit()
    token = access_token_for(settings, agent)
    r = await client.post(
        "/api/v1/auth/2fa/disable",
        headers=auth_header(token),
        json={
            "password": DEFAULT_PASSWORD,
            "code": pyotp.TOTP("AGENTTOTPDEMOSECRETAGENTTOTPDEMO").now(),
        },
    )
    assert r.status_code == 403

    await make_customer(session, email="ivan@example.com")
    await session.commit()
    tokens = await tokens_for(client, "ivan@example.com")
    secret, confirmed = await _enroll(client, tokens["access_token"])
    access = confirmed["tokens"]["access_token"]
    nxt = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
    r = await client.post(
        "/api/v1/auth/2fa/disable",
        headers=auth_header(access),
        json={"password": DEFAULT_PASSWORD, "code": nxt},
    )
    assert r.status_code == 204, r.text
    assert (await login(client, "ivan@example.com")).json()["mfa_required"] is False


async def test_agent_login_without_totp_cannot_act(client, session, settings):
    """An agent who has not enrolled 2FA gets only as far as the mfa-pending step, and a
    password-only session (as issued before enrolment links) can do nothing, not even enrol;
    enrolment needs an admin's link (tests/backend/auth/test_enrolment.py)."""
    agent = await make_user(session, role=Role.agent, email="newagent@example.com")
    await session.commit()
    step1 = (await login(client, "newagent@example.com")).json()
    assert step1["mfa_required"] is True and step1["tokens"] is None
    legacy = auth_header(access_token_for(settings, agent, mfa=False))
    r = await client.get("/api/v1/customers", headers=legacy)
    assert r.status_code == 403
    assert r.json()["error"] == "mfa_required"
    r = await client.post("/api/v1/auth/2fa/enroll", headers=legacy)
    assert r.status_code == 403
    assert r.json()["error"] == "enrolment_link_required"


async def test_agent_with_totp_signs_in_in_two_steps(client, session, settings):
    secret = pyotp.random_base32()
    await make_user(
        session, role=Role.agent, email="agent1@example.com", totp_secret=secret, settings=settings
    )
    await session.commit()
    step1 = await login(client, "agent1@example.com")
    assert step1.json()["mfa_required"] is True
    r = await client.post(
        "/api/v1/auth/2fa/verify",
        json={"mfa_token": step1.json()["mfa_token"], "code": pyotp.TOTP(secret).now()},
    )
    assert r.status_code == 200
    customers = await client.get("/api/v1/customers", headers=auth_header(r.json()["access_token"]))
    assert customers.status_code == 200


async def test_revocation_reaches_other_processes(client, session, resources):
    """Another API process (its own in-memory mirror) refuses a session revoked here."""
    from backend.state import Resources

    await make_customer(session, email="ivan@example.com")
    await session.commit()
    tokens = await tokens_for(client, "ivan@example.com")
    other = Resources.create(resources.settings)
    try:
        sid = __import__("jwt").decode(tokens["access_token"], options={"verify_signature": False})[
            "sid"
        ]
        assert await other.revocations.is_revoked(sid) is False  # starts the mirror
        for _ in range(50):
            if other.revocations.synced:
                break
            await asyncio.sleep(0.05)
        assert other.revocations.synced
        r = await client.post("/api/v1/auth/logout", headers=auth_header(tokens["access_token"]))
        assert r.status_code == 204
        for _ in range(50):
            if await other.revocations.is_revoked(sid):
                break
            await asyncio.sleep(0.05)
        assert await other.revocations.is_revoked(sid)
        # a process that starts later loads the existing revocations
        late = Resources.create(resources.settings)
        try:
            assert await late.revocations.is_revoked(sid)  # not synced yet: asks Redis
            for _ in range(50):
                if late.revocations.synced:
                    break
                await asyncio.sleep(0.05)
            assert late.revocations.synced
            assert await late.revocations.is_revoked(sid)
        finally:
            await late.close()
    finally:
        await other.close()
