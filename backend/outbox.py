"""Write side of the transactional outbox: domains call `enqueue()` inside their transaction;
`notifications.worker` delivers after commit. backend/ never imports notifications/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import utcnow
from backend.config import Settings
from backend.db import dialect_insert
from backend.models import OutboxMessage


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    dedup_key: str,
    available_at: datetime | None = None,
) -> bool:
    """Insert an outbox row; a second row with the same dedup_key is ignored. Returns whether
    a row was inserted."""
    values = {
        "kind": kind,
        "payload": payload,
        "dedup_key": dedup_key,
        "available_at": available_at or utcnow(),
        "created_at": utcnow(),
    }
    insert = dialect_insert(session)
    stmt = (
        insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["dedup_key"])
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


def recovery_channels(settings: Settings) -> frozenset[str]:
    """The channels that can carry a password-reset code in this setup. Outside production the
    stand-ins "deliver" to DATA_DIR/dev-mail; production has e-mail when SMTP_HOST is set and
    SMS when a gateway is configured and allowed to carry reset codes (SMS_KINDS). Without
    either, password recovery says so (503) instead of pretending to send."""
    if settings.app_env != "production":
        return frozenset({"email", "sms"})
    found: set[str] = set()
    if settings.smtp_host:
        found.add("email")
    if (
        settings.sms_provider is not None
        and settings.sms_api_key is not None
        and "auth.password_reset_code" in settings.sms_kinds
    ):
        found.add("sms")
    return frozenset(found)
