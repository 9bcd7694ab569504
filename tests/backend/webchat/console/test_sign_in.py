"""The console's sign-in and cookie session (docs/agent-console.md, "Sign-in and the session"):
password then TOTP through the auth service, the cookies and their flags, CSRF on every unsafe
request, refresh, expiry, sign-out, and the refusals (customers, staff without 2FA)."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from fastapi.responses import Response
from httpx import AsyncClient
from sqlalchemy import func, select

from backend.auth.tokens import encode_token
from backend.deps import csrf_token_for
from backend.models import AuditEntry, RefreshToken, Role, Ticket, TicketPriority
from backend.webchat.console import session as console_session
from tests.conftest import make_settings
from tests.factories import (
    DEFAULT_PASSWORD,
    make_customer,
    make_ticket,
    make_user,
)

SECRET = pyotp.random_base32()


def _csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _set_cookies(response) -> dict[str, str]:
    """name -> the whole Set-Cookie line, lower-cased attributes kept as sent."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


async def _agent(session, settings, **overrides):
    user = await make_user(session, role=Role.agent, totp_secret=SECRET, settings=settings)
    for key, value in overrides.items():
        setattr(user, key, value)
    await session.commit()
    return user


async def sign_in(client: AsyncClient, email: str) -> dict[str, str]:
    """Password, then a TOTP code; returns the Set-Cookie lines of the final answer."""
    page = await client.get("/agent/login")
    assert page.status_code == 200
    step = await client.post(
        "/agent/login",
        data={"login": email, "password": DEFAULT_PASSWORD, "csrf_token": _csrf_of(page.text)},
    )
    assert step.status_code == 200, step.text
    assert 'name="code"' in step.text
    done = await client.post(
        "/agent/login/verify",
        data={"code": pyotp.TOTP(SECRET).now(), "csrf_token": _csrf_of(step.text)},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/agent"
    return _set_cookies(done)


async def test_password_then_totp_sets_the_console_cookies(client, session, settings) -> None:
    user = await _agent(session, settings, display_name="Анна")
    page = await client.get("/agent/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    step = await client.post(
        "/agent/login",
        data={
            "login": user.email,
            "password": DEFAULT_PASSWORD,
            "csrf_token": _csrf_of(page.text),
        },
    )
    assert step.status_code == 200
    mfa = _set_cookies(step)["pd_console_mfa"].lower()
    assert "httponly" in mfa and "path=/agent/login" in mfa and "samesite=strict" in mfa
    # the sign-in is not done yet
    assert "pd_console" not in _set_cookies(step)

    done = await client.post(
        "/agent/login/verify",
        data={"code": pyotp.TOTP(SECRET).now(), "csrf_token": _csrf_of(step.text)},
    )
    assert done.status_code == 303
    cookies = {k: v.lower() for k, v in _set_cookies(done).items()}
    access = cookies["pd_console"]
    assert "httponly" in access and "samesite=strict" in access and "path=/;" in access
    assert f"max-age={settings.access_token_minutes * 60}" in access
    assert "secure" not in access  # test: plain http
    csrf = cookies["pd_csrf"]
    assert "httponly" not in csrf and "samesite=strict" in csrf
    refresh = cookies["pd_console_refresh"]
    assert "httponly" in refresh and "path=/agent" in refresh and "samesite=strict" in refresh

    console = await client.get("/agent")
    assert console.status_code == 200
    assert "Анна" in console.text
    # the cookie works for the API too (a safe method needs no CSRF token)
    me = await client.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["mfa_satisfied"] is True
    logins = await session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "auth.login")
    )
    assert logins == 1


async def test_cookies_are_secure_on_https() -> None:
    from backend.auth.schemas import TokenPair

    settings = make_settings(public_url="https://desk.example")
    response = Response()
    tokens = TokenPair(access_token="a" * 20, refresh_token="r" * 20, expires_in=600)
    console_session.set_session(response, settings, tokens, "sid-1")
    lines = response.headers.getlist("set-cookie")
    assert len(lines) == 3
    assert all("Secure" in line for line in lines)


async def test_a_wrong_password_is_refused_and_audited(client, session, settings) -> None:
    user = await _agent(session, settings)
    page = await client.get("/agent/login", headers={"Accept-Language": "en-US,en;q=0.8"})
    answer = await client.post(
        "/agent/login",
        data={"login": user.email, "password": "wrong-password", "csrf_token": _csrf_of(page.text)},
        headers={"Accept-Language": "en"},
    )
    assert answer.status_code == 401
    assert "Wrong e-mail or password." in answer.text
    assert "pd_console" not in _set_cookies(answer)
    failed = await session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "auth.login_failed")
    )
    assert failed == 1


async def test_a_wrong_code_is_refused(client, session, settings) -> None:
    user = await _agent(session, settings)
    page = await client.get("/agent/login")
    step = await client.post(
        "/agent/login",
        data={"login": user.email, "password": DEFAULT_PASSWORD, "csrf_token": _csrf_of(page.text)},
    )
    wrong = str((int(pyotp.TOTP(SECRET).now()) + 1) % 1_000_000).zfill(6)
    answer = await client.post(
        "/agent/login/verify", data={"code": wrong, "csrf_token": _csrf_of(step.text)}
    )
    assert answer.status_code == 401
    assert 'role="alert"' in answer.text
    assert "pd_console" not in _set_cookies(answer)
    assert (await client.get("/agent")).status_code == 303


async def test_the_sign_in_form_needs_its_csrf_token(client, session, settings) -> None:
    user = await _agent(session, settings)
    await client.get("/agent/login")
    answer = await client.post(
        "/agent/login",
        data={"login": user.email, "password": DEFAULT_PASSWORD, "csrf_token": "forged"},
    )
    assert answer.status_code == 403
    # nothing happened: the password was not even checked
    audited = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert audited == 0


async def test_a_customer_cannot_use_the_console(client, session, settings) -> None:
    await make_customer(session, email="cust@example.com")
    await session.commit()
    page = await client.get("/agent/login", headers={"Accept-Language": "en"})
    answer = await client.post(
        "/agent/login",
        data={
            "login": "cust@example.com",
            "password": DEFAULT_PASSWORD,
            "csrf_token": _csrf_of(page.text),
        },
        headers={"Accept-Language": "en"},
    )
    assert answer.status_code == 403
    assert "The console is for support staff" in answer.text
    assert "pd_console" not in _set_cookies(answer)
    # the session the service opened for the customer's right password is ended at once
    live = await session.scalar(
        select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))
    )
    assert live == 0


async def test_staff_without_two_factor_are_told_to_enrol(client, session) -> None:
    user = await make_user(session, role=Role.agent)
    await session.commit()
    page = await client.get("/agent/login", headers={"Accept-Language": "en"})
    answer = await client.post(
        "/agent/login",
        data={"login": user.email, "password": DEFAULT_PASSWORD, "csrf_token": _csrf_of(page.text)},
        headers={"Accept-Language": "en"},
    )
    assert answer.status_code == 403
    assert "enrolment link" in answer.text


async def test_unsafe_requests_need_the_csrf_header(client, session, settings) -> None:
    user = await _agent(session, settings)
    customer = (await make_customer(session))[1]
    ticket = await make_ticket(session, customer)
    await session.commit()
    await sign_in(client, user.email)
    url = f"/api/v1/tickets/{ticket.id}"

    missing = await client.patch(url, json={"priority": "high"})
    assert missing.status_code == 403
    assert missing.json()["error"] == "csrf_failed"
    wrong = await client.patch(url, json={"priority": "high"}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    # a token of another session, even when planted in the cookie too, does not pass
    other = csrf_token_for(settings, "another-session")
    client.cookies.set("pd_csrf", other, path="/")
    planted = await client.patch(url, json={"priority": "high"}, headers={"X-CSRF-Token": other})
    assert planted.status_code == 403
    await session.refresh(ticket)
    assert ticket.priority is TicketPriority.medium

    sid = (await session.scalars(select(RefreshToken.family_id))).one()
    good = csrf_token_for(settings, sid)
    client.cookies.set("pd_csrf", good, path="/")
    done = await client.patch(url, json={"priority": "high"}, headers={"X-CSRF-Token": good})
    assert done.status_code == 200, done.text
    changed = await session.scalar(select(Ticket.priority).where(Ticket.id == ticket.id))
    assert changed is TicketPriority.high


async def test_a_bearer_token_needs_no_csrf(client, as_staff, session) -> None:
    _, headers = await as_staff()
    customer = (await make_customer(session))[1]
    ticket = await make_ticket(session, customer)
    await session.commit()
    answer = await client.patch(
        f"/api/v1/tickets/{ticket.id}", json={"priority": "low"}, headers=headers
    )
    assert answer.status_code == 200, answer.text


async def test_without_a_session_pages_redirect_and_the_api_says_401(client) -> None:
    page = await client.get("/agent")
    assert page.status_code == 303
    assert page.headers["location"] == "/agent/login"
    tickets = await client.get("/agent/tickets")
    assert tickets.status_code == 303
    api = await client.get("/api/v1/agent/conversations")
    assert api.status_code == 401


async def test_an_expired_cookie_is_a_signed_out_console(client, session, settings) -> None:
    user = await _agent(session, settings)
    expired = encode_token(
        settings,
        typ="access",
        user_id=user.id,
        role=user.role,
        customer_id=None,
        sid="old-session",
        amr=("pwd", "otp"),
        lifetime=timedelta(minutes=-2),
    )
    client.cookies.set("pd_console", expired, path="/")
    assert (await client.get("/agent")).status_code == 303
    assert (await client.get("/api/v1/agent/conversations")).status_code == 401


async def test_refresh_rotates_the_cookie_and_needs_csrf(client, session, settings) -> None:
    user = await _agent(session, settings)
    cookies = await sign_in(client, user.email)
    csrf = client.cookies.get("pd_csrf")
    old_access = client.cookies.get("pd_console")

    refused = await client.post("/agent/refresh")
    assert refused.status_code == 403
    rotated = await session.scalar(
        select(func.count()).select_from(RefreshToken).where(RefreshToken.used_at.is_not(None))
    )
    assert rotated == 0

    # the access cookie has run out: the refresh cookie alone gets a new one
    client.cookies.delete("pd_console")
    answer = await client.post("/agent/refresh", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 204, answer.text
    new = _set_cookies(answer)
    assert "pd_console" in new and "pd_console_refresh" in new
    assert client.cookies.get("pd_console") not in (None, old_access)
    assert (await client.get("/api/v1/auth/me")).status_code == 200
    assert cookies  # signed in through the forms


async def test_a_page_refreshes_silently_when_the_access_cookie_is_gone(
    client, session, settings
) -> None:
    user = await _agent(session, settings)
    await sign_in(client, user.email)
    client.cookies.delete("pd_console")
    page = await client.get("/agent")
    assert page.status_code == 200
    assert "pd_console" in _set_cookies(page)


async def test_logout_revokes_the_session_and_clears_the_cookies(client, session, settings) -> None:
    user = await _agent(session, settings)
    await sign_in(client, user.email)
    access = client.cookies.get("pd_console")
    csrf = client.cookies.get("pd_csrf")

    forged = await client.post("/agent/logout", data={"csrf_token": "nope"})
    assert forged.status_code == 403
    assert (await client.get("/api/v1/auth/me")).status_code == 200  # still signed in

    done = await client.post("/agent/logout", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert done.headers["location"] == "/agent/login"
    cleared = _set_cookies(done)
    assert 'pd_console=""' in cleared["pd_console"] or "Max-Age=0" in cleared["pd_console"]
    # the old token is refused even when presented again
    again = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {access}"})
    assert again.status_code == 401
    revoked = await session.scalar(
        select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))
    )
    assert revoked == 0
    assert (await client.get("/agent")).status_code == 303


async def test_the_language_follows_the_agent(client, session, settings) -> None:
    ru = await client.get("/agent/login", headers={"Accept-Language": "ru-RU"})
    assert "Вход в консоль поддержки" in ru.text
    en = await client.get("/agent/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Sign in: support console" in en.text
    chosen = await client.get("/agent/login?lang=en", headers={"Accept-Language": "ru"})
    assert "Sign in: support console" in chosen.text
    user = await _agent(session, settings)
    await sign_in(client, user.email)
    page = await client.get("/agent?lang=en")
    assert '<html lang="en">' in page.text
    assert "Waiting" in page.text


async def test_static_files_are_served_and_nothing_else(client) -> None:
    js = await client.get("/agent/static/console.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert (await client.get("/agent/static/console.css")).status_code == 200
    assert (await client.get("/agent/static/..%2Fpages.py")).status_code == 404
    assert (await client.get("/agent/static/nope.js")).status_code == 404
