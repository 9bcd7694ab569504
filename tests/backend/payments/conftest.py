"""Fixtures of the payments tests: an app with the payments routers (mounted here until
backend/api.py and backend/app.py mount them), per-test settings, a real uvicorn server on a
free port, and the ledger invariant check."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import func, select

from backend.app import create_app
from backend.models import Account, Transaction
from backend.state import Resources
from tests.support.yookassa_standin import YooKassaStandIn

Headers = dict[str, str]
AppFactory = Callable[..., FastAPI]


def build_app(resources: Resources, **overrides: Any) -> FastAPI:
    """The application over the shared engine and Redis, with settings overridden."""
    settings = resources.settings.model_copy(update=overrides)
    res = dataclasses.replace(resources, settings=settings)
    return create_app(settings, resources=res, roles=[])


@pytest.fixture
def make_app(resources) -> AppFactory:
    return lambda **overrides: build_app(resources, **overrides)


@asynccontextmanager
async def client_for(app: FastAPI, ip: str = "203.0.113.7") -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, client=(ip, 50000))
    async with AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.fixture
async def api(make_app) -> AsyncIterator[AsyncClient]:
    """A client of the app with the test settings (sandbox provider, no live server)."""
    async with client_for(make_app()) as c:
        yield c


@asynccontextmanager
async def serve(make: Callable[[str], FastAPI]) -> AsyncIterator[tuple[FastAPI, str]]:
    """Serve `make(base_url)` with uvicorn on a free port in this event loop. The socket is
    bound first so the app's settings (public_url) can name the port it will answer on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = make(base_url)
    config = uvicorn.Config(
        app,
        lifespan="on",
        ws="websockets-sansio",  # the app serves /ws/chat too (tests/backend/webchat)
        log_level="warning",
        log_config=None,
        access_log=False,
        # the app's own TRUSTED_PROXIES handling is under test, not uvicorn's
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield app, base_url
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


def key_header(headers: Headers, key: str | None = None) -> Headers:
    return {**headers, "Idempotency-Key": key or str(uuid.uuid4())}


async def assert_ledger_invariant(resources: Resources) -> None:
    """balance == sum(transactions) for every account, and balance_after is the running sum."""
    async with resources.sessionmaker() as s:
        rows = (
            await s.execute(
                select(
                    Account.id,
                    Account.balance,
                    func.coalesce(func.sum(Transaction.amount), 0),
                )
                .outerjoin(Transaction, Transaction.account_id == Account.id)
                .group_by(Account.id, Account.balance)
            )
        ).all()
        assert rows, "no accounts to check"
        for account_id, balance, total in rows:
            assert balance == total, f"account {account_id}: balance {balance} != sum {total}"
            running = 0
            for txn in await s.scalars(
                select(Transaction)
                .where(Transaction.account_id == account_id)
                .order_by(Transaction.id)
            ):
                running += txn.amount
                assert txn.balance_after == running


@pytest.fixture
async def standin() -> AsyncIterator[tuple[YooKassaStandIn, str]]:
    """The YooKassa API stand-in served on a free port, and its base URL."""
    fake = YooKassaStandIn()
    async with serve(lambda _base: fake.app) as (_, base):
        yield fake, f"{base}/v3"


def yookassa_overrides(fake: YooKassaStandIn, api_base: str) -> dict[str, Any]:
    return {
        "payment_provider": "yookassa",
        "yookassa_api_base": api_base,
        "yookassa_shop_id": fake.shop_id,
        "yookassa_secret_key": SecretStr(fake.secret_key),
    }


@pytest.fixture
def yookassa_app(make_app, standin) -> AppFactory:
    fake, api_base = standin
    return lambda **extra: make_app(**{**yookassa_overrides(fake, api_base), **extra})
