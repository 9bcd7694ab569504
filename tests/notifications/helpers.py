"""Helpers for the outbox worker tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.models import OutboxMessage
from backend.state import Resources


def reset_payload(
    code: str = "482913", *, to: str = "ivan@example.com", channel: str = "email", **extra: Any
) -> dict[str, Any]:
    """The shape backend.auth.service.forgot_password writes."""
    return {
        "channel": channel,
        "to": to,
        "locale": "ru",
        "template": "auth-password-reset-code",
        "args": {"code": code, "minutes": 15},
        "secret_args": ["code"],
        **extra,
    }


async def enqueue_committed(
    resources: Resources, payload: dict[str, Any], dedup_key: str, kind: str = "test.notify"
) -> bool:
    async with resources.sessionmaker() as s:
        inserted = await outbox.enqueue(s, kind, payload, dedup_key)
        await s.commit()
    return inserted


async def rows(session: AsyncSession) -> list[OutboxMessage]:
    """Fresh copies of every outbox row (the worker writes in its own transactions)."""
    session.expire_all()
    await session.rollback()
    return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())
