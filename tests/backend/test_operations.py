"""Health, metrics, error shapes, bad input and outages."""

from __future__ import annotations

import dataclasses

from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import make_url

from backend.app import create_app
from backend.state import Resources
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, make_settings
from tests.factories import DEFAULT_PASSWORD, make_customer
from tests.support.tcp_proxy import TcpProxy


async def test_health_ok(client):
    r = await client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "redis": "ok"}
    assert body["database_backend"] == "postgresql"


async def test_metrics_count_requests_by_route(client):
    await client.get("/health")
    await client.post("/api/v1/auth/login", json={"login": "x@example.com", "password": "y"})
    r = await client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'route="/api/v1/auth/login",status="401"' in text
    assert "http_request_duration_seconds_bucket" in text


async def test_openapi_lists_the_api(client):
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/auth/login" in paths
    assert (await client.get("/docs")).status_code == 200


async def test_malformed_bodies_are_4xx_with_a_reason(client):
    cases = [
        ("/api/v1/auth/login", b"{not json", "application/json"),
        ("/api/v1/auth/login", b"[]", "application/json"),
        ("/api/v1/auth/login", b'{"login": 5, "password": null}', "application/json"),
        ("/api/v1/auth/login", b"login=a&password=b", "application/x-www-form-urlencoded"),
        ("/api/v1/auth/refresh", b'{"refresh_token": "' + b"a" * 5000 + b'"}', "application/json"),
        ("/api/v1/auth/register", b'{"email": "\\u0000@x.com"}', "application/json"),
        ("/api/v1/auth/login", '{"login": "😀😀😀", "password": "x"}'.encode(), "application/json"),
        ("/api/v1/auth/login", b'{"login": "\\ud83d@x.com", "password": "x"}', "application/json"),
        ("/api/v1/auth/login", b"\xff\xfe{}", "application/json"),
    ]
    for path, body, ctype in cases:
        r = await client.post(path, content=body, headers={"content-type": ctype})
        assert 400 <= r.status_code < 500, (path, body[:40], r.status_code, r.text)
        assert "error" in r.json() and "detail" in r.json()


async def test_oversized_body_is_413(client):
    r = await client.post(
        "/api/v1/auth/login", content=b"x" * 2_000_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


async def test_unknown_route_and_method(client):
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await client.delete("/api/v1/auth/login")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


async def test_cors_allow_list(client):
    allowed = await client.options(
        "/api/v1/auth/login",
        headers={"Origin": "http://127.0.0.1:8000", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers.get("access-control-allow-origin") == "http://127.0.0.1:8000"
    denied = await client.options(
        "/api/v1/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in denied.headers


async def test_database_and_redis_outage_degrade_and_recover(resources, session):
    """Cut PostgreSQL and Redis (through proxies): health says so, requests get 503 with a
    reason; restore them: everything answers again without a restart."""
    await make_customer(session, email="ivan@example.com")
    await session.commit()
    db = make_url(TEST_DATABASE_URL)
    redis_url = make_url(TEST_REDIS_URL.replace("redis://", "postgresql://"))  # just to parse
    pg_proxy = TcpProxy(db.host or "127.0.0.1", db.port or 5432)
    redis_proxy = TcpProxy(redis_url.host or "127.0.0.1", redis_url.port or 6379)
    await pg_proxy.start()
    await redis_proxy.start()
    settings = make_settings(
        database_url=str(db.set(port=pg_proxy.port).render_as_string(hide_password=False)),
        redis_url=f"redis://127.0.0.1:{redis_proxy.port}/15",
        db_pool_size=5,
    )
    res = Resources.create(settings)
    app = create_app(settings, resources=res, roles=[])
    body = {"login": "ivan@example.com", "password": DEFAULT_PASSWORD}
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
            assert (await c.get("/health")).status_code == 200
            assert (await c.post("/api/v1/auth/login", json=body)).status_code == 200

            await pg_proxy.cut()
            r = await c.get("/health")
            assert r.status_code == 503
            assert r.json()["checks"]["database"] != "ok"
            assert r.json()["checks"]["redis"] == "ok"
            r = await c.post("/api/v1/auth/login", json=body)
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "database_unavailable"
            assert r.headers["Retry-After"]

            await pg_proxy.restore()
            await redis_proxy.cut()
            r = await c.get("/health")
            assert r.status_code == 503
            assert r.json()["checks"] == {"database": "ok", "redis": r.json()["checks"]["redis"]}
            assert r.json()["checks"]["redis"] != "ok"
            r = await c.post("/api/v1/auth/login", json=body)
            assert r.status_code == 503
            assert r.json()["error"] == "redis_unavailable"

            await redis_proxy.restore()
            assert (await c.get("/health")).status_code == 200
            assert (await c.post("/api/v1/auth/login", json=body)).status_code == 200
    finally:
        await pg_proxy.cut()
        await redis_proxy.cut()
        await res.close()


async def test_audit_log_is_append_only_in_postgres(resources, session):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from backend.audit import service as audit

    await audit.record(session, "test.event")
    await session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(text("UPDATE audit_log SET action = 'x'"))
    await session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(text("DELETE FROM audit_log"))
    await session.rollback()


def test_settings_refuse_demo_secrets_in_production():
    import pytest
    from pydantic import ValidationError

    from backend.config import Settings

    with pytest.raises(ValidationError, match="SECRET_KEY is the demo value"):
        Settings(app_env="production", _env_file=None)  # type: ignore[call-arg]
    ok = Settings(
        app_env="production",
        secret_key="x" * 40,
        database_url="postgresql+asyncpg://u@db/pd",
        redis_url="redis://r:6379/0",
        seed_demo=False,
        payment_provider="yookassa",
        _env_file=None,  # type: ignore[call-arg]
    )
    assert ok.app_env == "production"
    _ = dataclasses  # keep the import used for readers who extend this module
