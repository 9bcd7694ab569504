"""Idempotency-Key on POST /api/v1/payments, and backend.idempotency on its own."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from backend import idempotency
from backend.db import unit_of_work
from backend.models import IdempotencyKey
from tests.backend.payments.conftest import key_header
from tests.backend.payments.helpers import payment_count
from tests.factories import make_user


async def test_same_key_same_body_returns_the_same_payment(api, as_customer, resources):
    _, headers = await as_customer()
    h = key_header(headers, "order-1")
    first = await api.post("/api/v1/payments", json={"amount": 15000}, headers=h)
    assert first.status_code == 201, first.text
    # key order and whitespace do not make it another request
    again = await api.post(
        "/api/v1/payments",
        content=b'{ "amount" :15000 }',
        headers={**h, "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await payment_count(resources) == 1


async def test_same_key_different_body_is_refused(api, as_customer, resources):
    _, headers = await as_customer()
    h = key_header(headers, "order-2")
    assert (
        await api.post("/api/v1/payments", json={"amount": 15000}, headers=h)
    ).status_code == 201
    reused = await api.post("/api/v1/payments", json={"amount": 16000}, headers=h)
    assert reused.status_code == 422
    assert reused.json()["error"] == "idempotency_key_reused"
    assert await payment_count(resources) == 1


async def test_missing_or_malformed_key(api, as_customer, resources):
    _, headers = await as_customer()
    missing = await api.post("/api/v1/payments", json={"amount": 15000}, headers=headers)
    assert missing.status_code == 422
    assert missing.json()["error"] == "idempotency_key_required"
    for bad in ("x" * 129, "tab\there"):
        r = await api.post(
            "/api/v1/payments", json={"amount": 15000}, headers={**headers, "Idempotency-Key": bad}
        )
        assert r.status_code == 422, bad
        assert r.json()["error"] == "idempotency_key_invalid"
    ok = await api.post(
        "/api/v1/payments",
        json={"amount": 15000},
        headers={**headers, "Idempotency-Key": "k" * 128},
    )
    assert ok.status_code == 201
    assert await payment_count(resources) == 1


async def test_keys_belong_to_their_user(api, as_customer, resources):
    _, alice = await as_customer()
    _, bob = await as_customer()
    a = await api.post("/api/v1/payments", json={"amount": 15000}, headers=key_header(alice, "k"))
    b = await api.post("/api/v1/payments", json={"amount": 15000}, headers=key_header(bob, "k"))
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert await payment_count(resources) == 2


async def test_a_failed_request_does_not_burn_the_key(api, as_customer, resources):
    _, headers = await as_customer()
    h = key_header(headers, "retry-me")
    bad = await api.post("/api/v1/payments", json={"amount": 1}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["error"] == "amount_out_of_range"
    fixed = await api.post("/api/v1/payments", json={"amount": 15000}, headers=h)
    assert fixed.status_code == 201
    assert await payment_count(resources) == 1


async def test_concurrent_requests_with_one_key_create_one_payment(api, as_customer, resources):
    _, headers = await as_customer()
    h = key_header(headers, "double-click")
    responses = await asyncio.gather(
        *(api.post("/api/v1/payments", json={"amount": 25000}, headers=h) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(1 for r in responses if "Idempotent-Replayed" not in r.headers) == 1
    assert await payment_count(resources) == 1


class _Body(BaseModel):
    n: int


async def test_run_executes_the_action_once_under_concurrency(resources, session):
    """Directly: concurrent transactions with the same key run the action once, and the rest
    replay its answer; the action of a rolled-back transaction leaves the key free."""
    user = await make_user(session)
    await session.commit()
    calls = 0

    async def request(n: int, fail: bool = False):
        nonlocal calls

        async def action() -> _Body:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)  # hold the claim while the others arrive
            if fail:
                raise RuntimeError("the action failed")
            return _Body(n=n)

        async with unit_of_work(resources.sessionmaker) as s:
            return await idempotency.run(
                s,
                user_id=user.id,
                key="k-1",
                endpoint="test.action",
                request={"n": 1},
                action=action,
                status_code=201,
            )

    with pytest.raises(RuntimeError):
        await request(0, fail=True)
    assert calls == 1
    results = await asyncio.gather(*(request(i) for i in range(1, 11)))
    assert calls == 2
    bodies = {r.body for r in results}
    assert len(bodies) == 1
    assert {r.status_code for r in results} == {201}
    async with resources.sessionmaker() as s:
        rows = list(await s.scalars(IdempotencyKey.__table__.select()))
    assert len(rows) == 1


def test_request_hash_is_canonical():
    a = idempotency.request_hash("e", {"a": 1, "b": [1, 2]})
    assert a == idempotency.request_hash("e", {"b": [1, 2], "a": 1})
    assert a != idempotency.request_hash("e", {"a": 2, "b": [1, 2]})
    assert a != idempotency.request_hash("other", {"a": 1, "b": [1, 2]})
