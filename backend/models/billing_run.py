from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.clock import utcnow
from backend.models.base import Base, BigIntPK, IdMixin
from backend.models.enums import BillingRunStatus, str_enum


class BillingRun(IdMixin, Base):
    """One billing day. Charges are idempotent by their ledger reference, so a run that died
    halfway is simply run again; this row records progress and totals."""

    __tablename__ = "billing_runs"

    run_date: Mapped[date] = mapped_column(unique=True)
    status: Mapped[BillingRunStatus] = mapped_column(
        str_enum(BillingRunStatus, "billing_run_status"), default=BillingRunStatus.running
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    last_subscription_id: Mapped[int] = mapped_column(BigIntPK, default=0)
    charged_count: Mapped[int] = mapped_column(Integer, default=0)
    charged_total: Mapped[int] = mapped_column(BigInteger, default=0)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
