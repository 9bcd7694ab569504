"""Queries the payments tests assert on."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select

from backend.models import (
    Account,
    AuditEntry,
    OutboxMessage,
    Payment,
    PaymentStatus,
    Transaction,
    TransactionReason,
)
from backend.payments.providers import sandbox
from backend.state import Resources


async def balance_of(resources: Resources, customer_id: int) -> int:
    async with resources.sessionmaker() as s:
        value = await s.scalar(select(Account.balance).where(Account.customer_id == customer_id))
    assert value is not None
    return int(value)


async def topups_of(resources: Resources, customer_id: int) -> list[Transaction]:
    async with resources.sessionmaker() as s:
        return list(
            await s.scalars(
                select(Transaction)
                .join(Account, Account.id == Transaction.account_id)
                .where(
                    Account.customer_id == customer_id,
                    Transaction.reason == TransactionReason.topup,
                )
                .order_by(Transaction.id)
            )
        )


async def payment_row(resources: Resources, public_id: str) -> Payment:
    async with resources.sessionmaker() as s:
        payment = await s.scalar(select(Payment).where(Payment.public_id == public_id))
    assert payment is not None
    return payment


async def payment_count(resources: Resources) -> int:
    async with resources.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(Payment)) or 0)


async def outbox_of(resources: Resources, kind: str) -> list[OutboxMessage]:
    async with resources.sessionmaker() as s:
        return list(
            await s.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


async def audit_actions(resources: Resources, action: str) -> list[AuditEntry]:
    async with resources.sessionmaker() as s:
        return list(
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


def signed_event(
    secret: str, event: str, payment_id: str, amount: int, currency: str = "RUB"
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"event": event, "payment_id": payment_id, "amount": amount, "currency": currency}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        sandbox.SIGNATURE_HEADER: sandbox.sign(secret, body),
    }
    return body, headers


def form_token(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, "no form token on the checkout page"
    return match.group(1)


async def wait_for_status(
    client: AsyncClient, public_id: str, status: PaymentStatus, timeout_s: float = 15
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await client.get(f"/api/v1/payments/{public_id}/status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] == status.value:
            return body
        assert asyncio.get_running_loop().time() < deadline, f"still {body['status']}"
        await asyncio.sleep(0.05)
