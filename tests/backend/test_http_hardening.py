"""Bad input never makes a 500, and every response carries the security headers: ids past
BIGINT on every route, a chunked body over the limit (on a real uvicorn server), the headers,
a METRICS_TOKEN, and TRUSTED_PROXIES ranges with several X-Forwarded-For lines."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from backend.app import create_app
from backend.context import current_request
from backend.middleware import _client_ip, parse_networks
from backend.models import Role
from tests.backend.payments.conftest import serve

TOO_BIG = str(2**63)
_PARAM = re.compile(r"\{([^}:]+)(?::path)?\}")


def _integer_params(spec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(method, path, where, name) of every integer path or query parameter in the API."""
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
                if "integer" in types and param["in"] in {"path", "query"}:
                    found.append((method, path, param["in"], param["name"]))
    return found


def _fill(target: str | None, m: re.Match[str]) -> str:
    return TOO_BIG if m.group(1) == target else "1"


async def test_ids_past_bigint_are_refused_on_every_route(app, client, as_customer, as_staff):
    params = _integer_params(app.openapi())
    # the routes the review named are among them
    named = {(p, n) for _, p, _, n in params}
    assert ("/api/v1/invoices/{invoice_id}", "invoice_id") in named
    assert any(n == "before_id" for _, _, _, n in params)
    assert any("/agent/conversations/{" in p for _, p, _, _ in params)
    _, customer = await as_customer()
    _, admin = await as_staff(Role.admin, mfa=True)
    failures = []
    for method, path, where, name in params:
        target = name if where == "path" else None
        url = _PARAM.sub(partial(_fill, target), path)
        query = {name: TOO_BIG} if where == "query" else {}
        for headers in (customer, admin):
            r = await client.request(method.upper(), url, params=query, headers=headers, json={})
            if r.status_code >= 500:
                failures.append((method, path, name, r.status_code, r.text[:200]))
    assert failures == [], "\n".join(map(str, failures))


async def test_a_chunked_body_over_the_limit_is_413(resources):
    async def chunks() -> AsyncIterator[bytes]:
        piece = b"x" * 65536
        for _ in range(24):  # 1.5 MiB, no Content-Length
            yield piece

    async with (
        serve(lambda base: create_app(resources.settings, resources=resources, roles=[])) as (
            _,
            base,
        ),
        AsyncClient(base_url=base, timeout=30) as http,
    ):
        # a validated JSON body, and a webhook that reads the raw body itself
        for path in ("/api/v1/auth/login", "/api/v1/payments/webhooks/yookassa"):
            r = await http.post(
                path, content=chunks(), headers={"content-type": "application/json"}
            )
            assert r.status_code == 413, (path, r.text)
            assert r.json()["error"] == "payload_too_large"
            assert r.headers["x-content-type-options"] == "nosniff"
        # the server goes on serving
        assert (await http.get("/health")).status_code == 200


async def test_every_response_says_nosniff_and_no_hsts_over_http(client):
    for r in (
        await client.get("/health"),
        await client.get("/api/v1/me"),  # 401
        await client.get("/no/such/page"),  # 404
        await client.post(
            "/api/v1/auth/login", content=b"{", headers={"content-type": "application/json"}
        ),
    ):
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert "strict-transport-security" not in r.headers


def _app_with(resources, **overrides: Any):
    settings = resources.settings.model_copy(update=overrides)
    return create_app(
        settings, resources=dataclasses.replace(resources, settings=settings), roles=[]
    )


async def test_hsts_when_the_public_url_is_https(resources):
    app = _app_with(resources, public_url="https://desk.example.net")
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/health")
    assert r.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_metrics_token(resources):
    app = _app_with(resources, metrics_token=SecretStr("m3trics-token"))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 401
        wrong = await c.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_token"
        ok = await c.get("/metrics", headers={"Authorization": "Bearer m3trics-token"})
        assert ok.status_code == 200
        assert "http_requests_total" in ok.text
    # without a token it stays open (development)
    open_app = _app_with(resources)
    async with AsyncClient(transport=ASGITransport(app=open_app), base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 200


def _scope(client: str, *xff: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (client, 1234),
        "headers": [(b"x-forwarded-for", v.encode()) for v in xff],
    }


def test_trusted_proxies_take_ranges_and_several_header_lines():
    nets = parse_networks(["10.0.0.0/24", "192.0.2.7"])
    assert _client_ip(_scope("10.0.0.42", "203.0.113.9"), nets) == "203.0.113.9"
    assert _client_ip(_scope("192.0.2.7", "203.0.113.9"), nets) == "203.0.113.9"
    # not a trusted proxy: its header is not believed
    assert _client_ip(_scope("10.0.1.1", "203.0.113.9"), nets) == "10.0.1.1"
    # two header lines are one list in order; the rightmost untrusted hop is the client
    assert _client_ip(_scope("10.0.0.1", "198.51.100.1, 203.0.113.9", "10.0.0.3"), nets) == (
        "203.0.113.9"
    )
    assert _client_ip(_scope("10.0.0.1", "198.51.100.1", "203.0.113.9, 10.0.0.3"), nets) == (
        "203.0.113.9"
    )
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        parse_networks(["10.0.0.0/33"])


async def test_a_proxy_range_reaches_the_app(resources):
    seen: list[str | None] = []
    app = _app_with(resources, trusted_proxies=["198.18.0.0/24"])

    @app.get("/__ip")  # type: ignore[untyped-decorator]
    async def ip() -> dict[str, str | None]:
        seen.append(current_request().ip)
        return {}

    transport = ASGITransport(app=app, client=("198.18.0.77", 5555))
    async with AsyncClient(transport=transport, base_url="http://t") as c:
        await c.get(
            "/__ip", headers=[("X-Forwarded-For", "185.71.76.5"), ("X-Forwarded-For", "198.18.0.9")]
        )
    assert seen == ["185.71.76.5"]
