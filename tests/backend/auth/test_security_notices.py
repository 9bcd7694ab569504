"""Security notices written by the auth service in the transaction of their cause: a customer's
password sign-in from a device the account has not used (user agent + network), a password
changed or reset. Over HTTP, as a customer's browser does it; the outbox row is what the
notification worker turns into the message (tests/notifications/test_events.py renders them)."""

from __future__ import annotations

from datetime import datetime

import pyotp
import pytest
from sqlalchemy import select

from backend.audit import service as audit
from backend.auth import notices
from backend.clock import utcnow
from backend.models import OutboxMessage, Role
from tests.factories import DEFAULT_PASSWORD, auth_header, make_customer, make_user, totp_code

LOGIN = "/api/v1/auth/login"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


async def _notices(session, kind: str) -> list[OutboxMessage]:
    session.expire_all()
    await session.rollback()
    rows = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    )
    return list(rows)


async def _sign_in(client, login: str, agent: str, password: str = DEFAULT_PASSWORD) -> dict:
    r = await client.post(
        LOGIN, json={"login": login, "password": password}, headers={"User-Agent": agent}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_sign_in_from_a_new_device_is_announced_once(client_with, session):
    _, customer = await make_customer(session, email="ivan@example.com")
    await session.commit()
    customer_id = customer.id

    async with client_with(ip="203.0.113.7") as home:
        # the account's first session: nothing to compare with, nothing to announce
        await _sign_in(home, "ivan@example.com", CHROME_WINDOWS)
        # the same browser at home again, and from another address of the same network
        await _sign_in(home, "ivan@example.com", CHROME_WINDOWS)
    async with client_with(ip="203.0.113.99") as same_network:
        await _sign_in(same_network, "ivan@example.com", CHROME_WINDOWS)
    assert await _notices(session, notices.NEW_SIGN_IN) == []

    async with client_with(ip="198.51.100.23") as elsewhere:
        await _sign_in(elsewhere, "IVAN@example.com", SAFARI_IPHONE)
        [row] = await _notices(session, notices.NEW_SIGN_IN)
        # that phone, from there, is known now
        await _sign_in(elsewhere, "ivan@example.com", SAFARI_IPHONE)
    assert len(await _notices(session, notices.NEW_SIGN_IN)) == 1

    assert row.payload["customer_id"] == customer_id
    assert row.payload["device"] == "Safari, iOS"
    assert row.payload["network"] == "198.51.100.*"
    assert "198.51.100.23" not in str(row.payload)
    assert datetime.fromisoformat(row.payload["at"]).tzinfo is not None


async def test_a_known_network_with_another_browser_is_a_new_device(client_with, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    async with client_with(ip="203.0.113.7") as home:
        await _sign_in(home, "ivan@example.com", CHROME_WINDOWS)
        await _sign_in(home, "ivan@example.com", SAFARI_IPHONE)
    [row] = await _notices(session, notices.NEW_SIGN_IN)
    assert row.payload["device"] == "Safari, iOS"


async def test_a_wrong_password_announces_nothing(client_with, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    async with client_with(ip="203.0.113.7") as home:
        await _sign_in(home, "ivan@example.com", CHROME_WINDOWS)
    async with client_with(ip="198.51.100.23") as elsewhere:
        r = await elsewhere.post(LOGIN, json={"login": "ivan@example.com", "password": "nope!"})
        assert r.status_code == 401
    assert await _notices(session, notices.NEW_SIGN_IN) == []


async def test_the_second_factor_step_announces_the_sign_in(client_with, session, settings):
    secret = pyotp.random_base32()
    user, _ = await make_customer(session, email="ivan@example.com")
    assert user is not None
    other = await make_user(
        session, email="twin@example.com", totp_secret=secret, settings=settings
    )
    user.totp_secret_encrypted, user.totp_enabled = other.totp_secret_encrypted, True
    await session.delete(other)
    await session.commit()

    async def sign_in(client, agent: str, step: int) -> None:
        first = await _sign_in(client, "ivan@example.com", agent)
        assert first["mfa_required"] is True
        # only the completed sign-in counts: the password step alone announces nothing
        assert await _notices(session, notices.NEW_SIGN_IN) == []
        r = await client.post(
            "/api/v1/auth/2fa/verify",
            json={"mfa_token": first["mfa_token"], "code": totp_code(secret, step)},
            headers={"User-Agent": agent},
        )
        assert r.status_code == 200, r.text

    async with client_with(ip="203.0.113.7") as home:
        await sign_in(home, CHROME_WINDOWS, 0)
    async with client_with(ip="198.51.100.23") as elsewhere:
        await sign_in(elsewhere, CHROME_WINDOWS, 1)
    [row] = await _notices(session, notices.NEW_SIGN_IN)
    assert row.payload["network"] == "198.51.100.*"


async def test_staff_get_no_customer_notices(session):
    agent = await make_user(session, role=Role.agent)
    entry = await audit.record(session, "auth.password_changed", None, "user", agent.id)
    now = utcnow()
    assert await notices.password_changed(session, agent, "changed", entry, now) is False
    assert await notices.sign_in(session, agent, entry, now) is False
    assert await _notices(session, notices.PASSWORD_CHANGED) == []


async def test_a_changed_password_tells_the_customer(client, session):
    _, customer = await make_customer(session, email="ivan@example.com")
    await session.commit()
    customer_id = customer.id
    tokens = (await _sign_in(client, "ivan@example.com", CHROME_WINDOWS))["tokens"]

    r = await client.post(
        "/api/v1/auth/password/change",
        headers=auth_header(tokens["access_token"]),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "brand-new-password"},
    )
    assert r.status_code == 204, r.text

    [row] = await _notices(session, notices.PASSWORD_CHANGED)
    assert row.payload["customer_id"] == customer_id
    assert row.payload["how"] == "changed"
    assert "brand-new-password" not in str(row.payload)


async def test_a_reset_password_tells_the_customer(client, session):
    _, customer = await make_customer(session, email="ivan@example.com")
    await session.commit()
    customer_id = customer.id
    r = await client.post("/api/v1/auth/password/forgot", json={"login": "ivan@example.com"})
    assert r.status_code == 202
    [code_row] = await _notices(session, "auth.password_reset_code")
    code = code_row.payload["args"]["code"]

    r = await client.post(
        "/api/v1/auth/password/reset",
        json={"login": "ivan@example.com", "code": code, "new_password": "brand-new-password"},
    )
    assert r.status_code == 204, r.text

    [row] = await _notices(session, notices.PASSWORD_CHANGED)
    assert (row.payload["customer_id"], row.payload["how"]) == (customer_id, "reset")


@pytest.mark.parametrize(
    ("agent", "described"),
    [
        (CHROME_WINDOWS, "Chrome, Windows"),
        (SAFARI_IPHONE, "Safari, iOS"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 YaBrowser/24.12.0.0 Safari/537.36",
            "Yandex Browser, Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge, Windows",
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox, Linux",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome, Android",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/18.1 Safari/605.1.15",
            "Safari, macOS",
        ),
        ("python-httpx/0.28.1", None),
        ("", None),
        (None, None),
    ],
)
def test_devices_are_described_coarsely(agent, described):
    assert notices.describe_device(agent) == described


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("203.0.113.7", "203.0.113.*"),
        ("2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3:*"),
        ("2001:0db8:0000:0000::1", "2001:db8:0:*"),
        ("unknown", None),
        ("", None),
        (None, None),
    ],
)
def test_addresses_keep_only_their_network(ip, network):
    assert notices.network_of(ip) == network
