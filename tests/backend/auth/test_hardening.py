"""Sign-in hardening, proven through the HTTP API: a flood of failed password resets never
takes a second pool connection per request, rate limits count before they check, the mfa_token
is single-use, the login lockout is keyed by the user and backs off instead of locking for an
hour, and recovery in production without a real delivery channel says so."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from httpx import ASGITransport, AsyncClient
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import create_async_engine

from backend.app import create_app
from backend.db import create_sessionmaker
from backend.models import AuditEntry, OutboxMessage, Role
from backend.state import Resources
from tests.factories import DEFAULT_PASSWORD, make_customer, make_user, totp_code

LOGIN = "/api/v1/auth/login"
VERIFY = "/api/v1/auth/2fa/verify"
FORGOT = "/api/v1/auth/password/forgot"
RESET = "/api/v1/auth/password/reset"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def _audit_count(session, action: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        )
        or 0
    )


# --- 3: a flood of failed resets does not exhaust the pool ------------------------------------


class CheckoutsPerTask:
    """Pool events: how many connections each asyncio task held at the same time, at most."""

    def __init__(self) -> None:
        self.held: dict[int, int] = defaultdict(int)
        self.most = 0
        self._owner: dict[int, int] = {}

    def checkout(self, _dbapi: Any, record: Any, _proxy: Any) -> None:
        task = id(asyncio.current_task())
        self._owner[id(record)] = task
        self.held[task] += 1
        self.most = max(self.most, self.held[task])

    def checkin(self, _dbapi: Any, record: Any) -> None:
        task = self._owner.pop(id(record), None)
        if task is not None:
            self.held[task] -= 1


@asynccontextmanager
async def small_pool_client(
    resources: Resources, counter: CheckoutsPerTask, **overrides: Any
) -> AsyncIterator[AsyncClient]:
    """The app on its own engine with 5 connections and no overflow (DB_POOL_SIZE=5): requests
    that each wait for a second connection while holding one exhaust it (pool timeouts, 503)."""
    settings = resources.settings.model_copy(update={"db_pool_size": 5, **overrides})
    engine = create_async_engine(
        settings.database_url, pool_size=5, max_overflow=0, pool_timeout=30
    )
    event.listen(engine.sync_engine, "checkout", counter.checkout)
    event.listen(engine.sync_engine, "checkin", counter.checkin)
    res = dataclasses.replace(
        resources, settings=settings, engine=engine, sessionmaker=create_sessionmaker(engine)
    )
    app = create_app(settings, resources=res, roles=[])
    transport = ASGITransport(app=app, client=("198.51.100.77", 40000))
    try:
        async with AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
    finally:
        await engine.dispose()


async def test_reset_flood_takes_one_connection_per_request_and_me_still_answers(
    resources, session, as_customer
):
    _, me_headers = await as_customer(email="ivan@example.com")
    counter = CheckoutsPerTask()
    async with small_pool_client(
        resources,
        counter,
        password_reset_per_ip_15min=1000,
        password_reset_global_per_minute=1000,
    ) as c:

        async def made_up(i: int) -> int:
            body = {"login": f"nobody{i}@example.com", "code": "123456", "new_password": "x" * 12}
            return (await c.post(RESET, json=body)).status_code

        flood = [asyncio.create_task(made_up(i)) for i in range(60)]
        await asyncio.sleep(0)  # the flood is in flight before the legitimate request
        me = await c.get("/api/v1/me", headers=me_headers)
        codes = await asyncio.gather(*flood)
    assert me.status_code == 200, me.text
    assert codes == [401] * 60  # no pool timeouts (503)
    assert counter.most == 1  # no request ever held two connections
    # the failed attempts were audited although every request was rolled back
    assert await _audit_count(session, "auth.password_reset_failed") == 60


async def test_password_reset_is_limited_per_ip(client_with):
    body = {"login": "nobody@example.com", "code": "123456", "new_password": "x" * 12}
    async with client_with(ip="198.51.100.20", password_reset_per_ip_15min=3) as c:
        answers = [
            await c.post(RESET, json=body | {"login": f"n{i}@example.com"}) for i in range(4)
        ]
        assert [r.status_code for r in answers] == [401, 401, 401, 429]
        assert answers[3].json()["error"] == "rate_limited"
        assert 0 < int(answers[3].headers["Retry-After"]) <= 15 * 60
    async with client_with(ip="198.51.100.21", password_reset_per_ip_15min=3) as c:
        assert (await c.post(RESET, json=body)).status_code == 401  # another address is fine


async def test_password_reset_is_limited_globally(client_with):
    body = {"login": "nobody@example.com", "code": "123456", "new_password": "x" * 12}
    statuses = []
    for i in range(5):
        async with client_with(ip=f"198.51.100.{100 + i}", password_reset_global_per_minute=3) as c:
            r = await c.post(RESET, json=body | {"login": f"g{i}@example.com"})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.json()["error"] == "rate_limited"
                assert 0 < int(r.headers["Retry-After"]) <= 60
    # every address and every login is new: only the global window can refuse
    assert statuses == [401, 401, 401, 429, 429]


# --- 4: counters are incremented before the check; the mfa_token is single-use ---------------


async def _mfa_token(c: AsyncClient, login: str) -> str:
    r = await c.post(LOGIN, json={"login": login, "password": DEFAULT_PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json()["mfa_required"] is True
    return str(r.json()["mfa_token"])


async def test_concurrent_otp_codes_are_checked_at_most_the_limit(client_with, session, settings):
    await make_user(
        session, role=Role.agent, email="agent@example.com", totp_secret=SECRET, settings=settings
    )
    await session.commit()
    async with client_with(otp_attempts_per_user_5min=5) as c:
        pending = await _mfa_token(c, "agent@example.com")
        wrong = [c.post(VERIFY, json={"mfa_token": pending, "code": "000000"}) for _ in range(40)]
        answers = await asyncio.gather(*wrong)
        statuses = sorted(r.status_code for r in answers)
        assert statuses.count(401) <= 5
        assert statuses.count(429) >= 35
        assert set(statuses) <= {401, 429}
        right = await c.post(VERIFY, json={"mfa_token": pending, "code": totp_code(SECRET)})
        assert right.status_code == 429  # the limit is reached: even the right code waits
    assert await _audit_count(session, "auth.otp_failed") <= 5


async def test_mfa_token_is_single_use(client, session, settings):
    await make_user(
        session, role=Role.agent, email="agent@example.com", totp_secret=SECRET, settings=settings
    )
    await session.commit()
    pending = await _mfa_token(client, "agent@example.com")
    ok = await client.post(VERIFY, json={"mfa_token": pending, "code": totp_code(SECRET)})
    assert ok.status_code == 200, ok.text
    # a later, valid and unused code cannot turn the same mfa_token into a second session
    again = await client.post(VERIFY, json={"mfa_token": pending, "code": totp_code(SECRET, 1)})
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_token"


async def test_concurrent_right_codes_on_one_mfa_token_open_one_session(client, session, settings):
    await make_user(
        session, role=Role.agent, email="agent@example.com", totp_secret=SECRET, settings=settings
    )
    await session.commit()
    pending = await _mfa_token(client, "agent@example.com")
    # two different codes inside the ±1 step window are both valid for the account
    answers = await asyncio.gather(
        client.post(VERIFY, json={"mfa_token": pending, "code": totp_code(SECRET)}),
        client.post(VERIFY, json={"mfa_token": pending, "code": totp_code(SECRET, 1)}),
    )
    assert sorted(r.status_code for r in answers) == [200, 401]


async def test_concurrent_wrong_passwords_are_counted_before_checking(client_with, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    async with client_with(login_failures_before_lockout=3) as c:
        answers = await asyncio.gather(
            *(
                c.post(LOGIN, json={"login": "ivan@example.com", "password": "wrong-password"})
                for _ in range(20)
            )
        )
    statuses = [r.status_code for r in answers]
    assert statuses.count(401) <= 3
    assert statuses.count(429) >= 17
    assert await _audit_count(session, "auth.login_failed") <= 3


# --- 8: the lockout is keyed by the user and backs off ----------------------------------------


async def _login(c: AsyncClient, login: str, password: str = DEFAULT_PASSWORD):
    return await c.post(LOGIN, json={"login": login, "password": password})


async def test_lockout_is_keyed_by_the_user_not_the_login_string(client_with, session):
    await make_customer(session, email="ivan@example.com", phone="+79001112233")
    await session.commit()
    async with client_with(login_failures_before_lockout=3) as c:
        for _ in range(3):
            assert (await _login(c, "ivan@example.com", "wrong-password")).status_code == 401
        assert (await _login(c, "ivan@example.com")).status_code == 429
        by_phone = await _login(c, "+7 900 111-22-33")  # the same account by another name
        assert by_phone.status_code == 429
        assert int(by_phone.headers["Retry-After"]) > 0


async def _let_the_lock_run_out(resources) -> None:
    """Stands in for waiting out Retry-After: the lock is a Redis key with that TTL."""
    keys = [k async for k in resources.redis.scan_iter("rl:login-lock:*")]
    assert keys, "expected the account to be locked"
    await resources.redis.delete(*keys)


async def test_lockout_retry_after_doubles_and_is_capped_at_15_minutes(
    client_with, session, resources
):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    overrides = {
        "login_failures_before_lockout": 3,
        "login_lockout_base_seconds": 60,
    }
    async with client_with(**overrides) as c:
        for _ in range(3):
            assert (await _login(c, "ivan@example.com", "wrong-password")).status_code == 401
        waits = []
        for _ in range(6):
            locked = await _login(c, "ivan@example.com")  # even the right password waits
            assert locked.status_code == 429
            assert locked.json()["error"] == "rate_limited"
            waits.append(int(locked.headers["Retry-After"]))
            await _let_the_lock_run_out(resources)
            assert (await _login(c, "ivan@example.com", "wrong-password")).status_code == 401
        # 60, 120, 240, 480, 900 (960 capped), 900: a few seconds of slack for the clock
        expected = [60, 120, 240, 480, 900, 900]
        assert all(e - 5 <= w <= e for w, e in zip(waits, expected, strict=True)), waits
        # once the lock has run out, the right password signs in and forgets the failures
        await _let_the_lock_run_out(resources)
        assert (await _login(c, "ivan@example.com")).status_code == 200
        assert (await _login(c, "ivan@example.com", "wrong-password")).status_code == 401
        assert (await _login(c, "ivan@example.com")).status_code == 200


async def test_locked_staff_is_not_locked_out_for_an_hour(client_with, session, settings):
    await make_user(
        session, role=Role.admin, email="admin@example.com", totp_secret=SECRET, settings=settings
    )
    await session.commit()
    async with client_with() as c:  # the defaults
        statuses = [
            (await _login(c, "admin@example.com", "wrong-password")).status_code for _ in range(25)
        ]
        assert 401 in statuses and 429 in statuses
        locked = await _login(c, "admin@example.com")
        assert locked.status_code == 429
        assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60


# --- 5: production without a real email/SMS channel says so -----------------------------------


async def test_recovery_in_production_without_a_real_channel_is_refused(client_with, session):
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    async with client_with(app_env="production") as c:
        for login in ("ivan@example.com", "nobody@example.com"):
            r = await c.post(FORGOT, json={"login": login})
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "recovery_channel_unavailable"
    assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
