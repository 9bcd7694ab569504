"""Jobs of billing: the daily billing run and its scheduler.

`billing_run(resources, day)` is idempotent per subscription per period (every charge carries
the ledger reference `charge` / `sub:<id>:<day or month>`, unique in the database) and
resumable: each chunk commits on its own and records its progress, so a run killed halfway
continues where it stopped, and a run repeated charges nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import promised, run_queries, suspensions, tariff_change
from backend.config import Settings
from backend.db import unit_of_work
from backend.errors import Conflict
from backend.logging import get_logger
from backend.models import BillingRun, BillingRunStatus, utcnow
from backend.state import Resources

log = get_logger("billing.run")

# Daily maintenance steps that other billing modules register (tariff changes that fall due,
# suspensions that start or end, promised payments that expire). Each gets its own transaction
# and returns a count for the report.
MaintenanceStep = Callable[[AsyncSession, Settings, date, datetime], Awaitable[int]]
PRE_CHARGE_STEPS: dict[str, MaintenanceStep] = {
    "tariff_changes": tariff_change.apply_due_changes,
    # before the charges: a pause that starts today is not charged today
    "suspensions": suspensions.process_day,
}
POST_CHARGE_STEPS: dict[str, MaintenanceStep] = {
    # after the charges and before blocking: an expired credit leaves a debt to block on
    "promised_payments": promised.expire_and_remind,
}


class BillingRunInProgress(Conflict):
    code = "billing_run_in_progress"
    detail = "another billing run is in progress"


class SimulatedCrash(RuntimeError):
    """Raised by tests (crash_after_chunks) to stop a run between two chunks."""


@dataclass
class BillingRunReport:
    day: date
    subscriptions_seen: int = 0
    charged: int = 0
    charged_total: int = 0
    blocked: int = 0
    low_balance_notices: int = 0
    invoices_issued: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    steps: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - since, 3)
        return now

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        return data


def business_today(settings: Settings) -> date:
    return datetime.now(ZoneInfo(settings.billing_timezone)).date()


async def billing_run(
    res: Resources,
    day: date | None = None,
    *,
    crash_after_chunks: int | None = None,
) -> BillingRunReport:
    settings = res.settings
    day = day or business_today(settings)
    lock = res.redis.lock("lock:billing-run", timeout=6 * 3600, blocking=False)
    if not await lock.acquire():
        raise BillingRunInProgress()
    try:
        return await _run(res, day, crash_after_chunks)
    finally:
        await lock.release()


async def _run(res: Resources, day: date, crash_after_chunks: int | None) -> BillingRunReport:
    settings = res.settings
    started = time.perf_counter()
    report = BillingRunReport(day=day)
    async with unit_of_work(res.sessionmaker) as session:
        run = await run_queries.get_or_start_run(session, day)
        run_id = run.id
        # A run that died halfway resumes after its last committed chunk; a finished day is
        # walked again from the start, which charges nothing twice.
        after = run.last_subscription_id if run.status is BillingRunStatus.running else 0
        report.resumed_from = after
        await session.execute(
            update(BillingRun)
            .where(BillingRun.id == run_id)
            .values(status=BillingRunStatus.running, error=None, last_subscription_id=after)
        )
    now = utcnow()
    for name, step in PRE_CHARGE_STEPS.items():
        async with unit_of_work(res.sessionmaker) as session:
            report.steps[name] = await step(session, settings, day, now)

    mark = report.lap("prepare", started)
    chunks = 0
    while True:
        async with unit_of_work(res.sessionmaker) as session:
            chunk = await run_queries.charge_chunk(
                session, day, after, settings.billing_chunk_size, settings.charging_mode
            )
            if chunk.seen:
                await run_queries.save_progress(
                    session, run_id, chunk.last_subscription_id, chunk.charged, chunk.total
                )
        report.subscriptions_seen += chunk.seen
        report.charged += chunk.charged
        report.charged_total += chunk.total
        if chunk.seen == 0:
            break
        after = chunk.last_subscription_id
        chunks += 1
        if crash_after_chunks is not None and chunks >= crash_after_chunks:
            raise SimulatedCrash(f"stopped after {chunks} chunks")

    mark = report.lap("charge", mark)
    for name, step in POST_CHARGE_STEPS.items():
        async with unit_of_work(res.sessionmaker) as session:
            report.steps[name] = await step(session, settings, day, now)

    async with unit_of_work(res.sessionmaker) as session:
        report.blocked = len(
            await run_queries.block_debtors(session, day, settings.block_threshold)
        )
    mark = report.lap("block", mark)
    async with unit_of_work(res.sessionmaker) as session:
        report.low_balance_notices = await run_queries.queue_low_balance_notices(
            session, day, settings.low_balance_days
        )
    mark = report.lap("low_balance", mark)
    if day.day == 1:
        async with unit_of_work(res.sessionmaker) as session:
            report.invoices_issued = await run_queries.issue_monthly_invoices(
                session, day, settings.invoice_due_days, settings.currency
            )
        if settings.generate_period_documents:
            # Acts for the month that ended and the PDFs of today's invoices; resumable, so a
            # crash here is finished by the next run of the day.
            from backend.documents.generate import generate_period_documents

            report.steps["documents"] = await generate_period_documents(res, day)
    report.lap("invoices", mark)
    report.seconds = round(time.perf_counter() - started, 3)
    async with unit_of_work(res.sessionmaker) as session:
        await session.execute(
            update(BillingRun)
            .where(BillingRun.id == run_id)
            .values(
                status=BillingRunStatus.finished,
                finished_at=utcnow(),
                stats=report.as_dict(),
            )
        )
    log.info("billing run finished", **report.as_dict())
    return report


async def run_billing_scheduler(res: Resources, stop: asyncio.Event) -> None:
    """Background role: run the day's billing once the local clock passes BILLING_RUN_HOUR.
    Several processes may run it; the Redis lock and the idempotent charges keep it single."""
    settings = res.settings
    while not stop.is_set():
        try:
            local_now = datetime.now(ZoneInfo(settings.billing_timezone))
            day = local_now.date()
            if local_now.hour >= settings.billing_run_hour:
                async with unit_of_work(res.sessionmaker) as session:
                    run = await run_queries.get_or_start_run(session, day)
                    done = run.status is BillingRunStatus.finished
                if not done:
                    await billing_run(res, day)
        except BillingRunInProgress:
            pass
        except Exception:  # the scheduler must outlive outages; the next tick retries
            log.exception("billing scheduler tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=60)
