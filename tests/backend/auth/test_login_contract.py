"""Customers sign in by contract number too, under the same limits, lockout and 2FA rules as
by e-mail or phone (docs/security.md, "Sign-in")."""

from __future__ import annotations

import pyotp
from sqlalchemy import func, select

from backend.auth import passwords
from backend.models import AuditEntry, Role
from tests.factories import DEFAULT_PASSWORD, make_customer, make_user, totp_code

LOGIN = "/api/v1/auth/login"
VERIFY = "/api/v1/auth/2fa/verify"
ME = "/api/v1/auth/me"


async def _login(client, login: str, password: str = DEFAULT_PASSWORD):
    return await client.post(LOGIN, json={"login": login, "password": password})


async def _demo_like(session, **overrides):
    user, customer = await make_customer(
        session, email="ivan@example.com", phone="+79001112233", contract_number="D-0001",
        **overrides,
    )  # fmt: skip
    await session.commit()
    assert user is not None
    return user, customer


async def test_customer_signs_in_by_contract_number_in_any_spelling(client, session):
    user, customer = await _demo_like(session)
    for spelling in ("D-0001", "d-0001", "  D-0001 "):
        r = await _login(client, spelling)
        assert r.status_code == 200, (spelling, r.text)
        access = r.json()["tokens"]["access_token"]
        me = (await client.get(ME, headers={"Authorization": f"Bearer {access}"})).json()
        assert (me["id"], me["customer_id"], me["role"]) == (user.id, customer.id, "customer")


async def test_wrong_password_and_unknown_contract_answer_like_an_unknown_email(client, session):
    await _demo_like(session)
    wrong = await _login(client, "d-0001", "wrong-password")
    unknown = await _login(client, "D-9999", "wrong-password")
    unknown_email = await _login(client, "nobody@example.com", "wrong-password")
    assert wrong.status_code == unknown.status_code == unknown_email.status_code == 401
    assert wrong.json() == unknown.json() == unknown_email.json()
    failed = await session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "auth.login_failed")
    )
    assert failed == 3


async def test_an_unknown_contract_costs_a_password_check(client, session, monkeypatch):
    """No account, no shortcut: the dummy hash is verified, as for a wrong password."""
    checked: list[str] = []
    real = passwords._verify

    def spy(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "_verify", spy)
    assert (await _login(client, "X-0000001", "wrong-password")).status_code == 401
    assert checked == [passwords._DUMMY_HASH]


async def test_lockout_counts_failures_across_email_and_contract(client_with, session):
    await _demo_like(session)
    async with client_with(login_failures_before_lockout=3) as c:
        assert (await _login(c, "ivan@example.com", "wrong-password")).status_code == 401
        assert (await _login(c, "D-0001", "wrong-password")).status_code == 401
        assert (await _login(c, "d-0001", "wrong-password")).status_code == 401
        for name in ("ivan@example.com", "d-0001", "+7 900 111-22-33"):
            blocked = await _login(c, name)  # even the right password
            assert blocked.status_code == 429, name
            assert int(blocked.headers["Retry-After"]) > 0


async def test_unknown_contract_is_limited_like_an_unknown_email(client_with, session):
    async with client_with(login_failures_before_lockout=2) as c:
        codes = [(await _login(c, s, "bad-password")).status_code for s in ("Z-1", "z-1", "Z-1")]
    assert codes == [401, 401, 429]


async def test_deactivated_customer_cannot_sign_in_by_contract(client, session, as_staff):
    user, _ = await _demo_like(session)
    _, admin_headers = await as_staff(Role.admin)
    r = await client.post(f"/api/v1/admin/users/{user.id}/deactivate", headers=admin_headers)
    assert r.status_code == 200, r.text
    refused = await _login(client, "D-0001")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_credentials"


async def test_contract_login_keeps_the_second_factor(client, session, settings):
    secret = pyotp.random_base32()
    user = await make_user(session, totp_secret=secret, settings=settings)
    _, customer = await make_customer(session, with_user=False, contract_number="D-0002")
    customer.user_id = user.id
    await session.commit()
    r = await _login(client, "d-0002")
    assert r.status_code == 200 and r.json()["mfa_required"] is True
    assert r.json()["tokens"] is None
    done = await client.post(VERIFY, json={"mfa_token": r.json()["mfa_token"],
                                           "code": totp_code(secret)})  # fmt: skip
    assert done.status_code == 200, done.text


async def test_contracts_differing_only_in_case_name_no_one(client, session):
    await make_customer(session, contract_number="AB-1")
    await make_customer(session, contract_number="ab-1")
    await session.commit()
    assert (await _login(client, "Ab-1")).status_code == 401
