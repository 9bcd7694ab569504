"""Jobs of billing: the daily billing run, its scheduler, and the promised-payment expiry.

`billing_run(resources, day)` is idempotent per subscription per period (every charge carries
the ledger reference `charge` / `sub:<id>:<day or month>`, unique in the database) and
resumable: each chunk commits on its own and records its progress, so a run killed halfway
continues where it stopped, and a run repeated charges nothing.

It catches up: every day after the last finished run up to the day it is given is run, oldest
first, so a day the scheduler missed (the process was down, a run died before midnight) is
charged late instead of never. A gap longer than BILLING_MAX_CATCHUP_DAYS is not charged
blindly: the run does its own day and reports the gap (log, report, metric); docs/billing.md.

Each day runs on that day's clock (`business_now`): a back-dated day expires promised payments,
starts pauses and applies tariff changes as of that day, not as of the wall clock."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import metrics, promised, run_queries, suspensions, tariff_change
from backend.billing.errors import BillingRunInProgress
from backend.clock import business_now, business_today, local_zone, utcnow
from backend.config import Settings
from backend.db import unit_of_work
from backend.logging import get_logger
from backend.models import BillingRun, BillingRunStatus
from backend.periodic import run_every
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

# The worker expires promised payments this often (the daily run does it too, as a backstop).
PROMISED_EXPIRY_INTERVAL_S = 300.0
# The scheduler looks at the clock, and every process refreshes the billing gauges, this often.
SCHEDULER_TICK_S = 60.0
MONITOR_INTERVAL_S = 60.0


class SimulatedCrash(RuntimeError):
    """Raised by tests (crash_after_chunks) to stop a run between two chunks."""


@dataclass
class BillingRunReport:
    """One day's run. The report of `billing_run` is its own day's, with the days it ran
    (`days_run`, oldest first), the reports of the missed days it caught up (`caught_up`) and
    a gap it refused to catch up (`gap_refused`)."""

    day: date
    business_time: datetime | None = None
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
    days_run: list[date] = field(default_factory=list)
    caught_up: list[dict[str, Any]] = field(default_factory=list)
    gap_refused: dict[str, Any] | None = None

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - since, 3)
        return now

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["business_time"] = self.business_time.isoformat() if self.business_time else None
        data["days_run"] = [d.isoformat() for d in self.days_run]
        return data


@dataclass(frozen=True)
class CatchUpPlan:
    days: list[date]  # the days to run, oldest first; the day asked for is the last
    gap_refused: dict[str, Any] | None = None


def plan_catch_up(last_finished: date | None, day: date, max_days: int) -> CatchUpPlan:
    """Every day after `last_finished` up to `day`; only `day` when nothing finished before
    it, or when more than `max_days` days were missed (then the gap is refused)."""
    if last_finished is None:
        return CatchUpPlan(days=[day])
    missed = [last_finished + timedelta(days=i) for i in range(1, (day - last_finished).days)]
    if len(missed) > max_days:
        return CatchUpPlan(
            days=[day],
            gap_refused={
                "first": missed[0].isoformat(),
                "last": missed[-1].isoformat(),
                "days": len(missed),
                "last_finished": last_finished.isoformat(),
                "max_catchup_days": max_days,
            },
        )
    return CatchUpPlan(days=[*missed, day])


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
        return await _catch_up(res, day, crash_after_chunks)
    finally:
        await lock.release()


async def _catch_up(res: Resources, day: date, crash_after_chunks: int | None) -> BillingRunReport:
    settings = res.settings
    async with unit_of_work(res.sessionmaker) as session:
        last = await _last_finished_before(session, day)
    plan = plan_catch_up(last, day, settings.billing_max_catchup_days)
    if plan.gap_refused is not None:
        log.warning(
            "billing catch-up refused",
            day=day.isoformat(),
            **plan.gap_refused,
            hint="run `main.py billing-run --date` for the missed days, oldest first",
        )
    elif len(plan.days) > 1:
        log.warning(
            "billing run catching up missed days",
            day=day.isoformat(),
            missed=[d.isoformat() for d in plan.days[:-1]],
        )
    caught_up: list[dict[str, Any]] = []
    for missed in plan.days[:-1]:
        earlier = await _run(res, BillingRunReport(day=missed), crash_after_chunks)
        caught_up.append(earlier.as_dict())
    report = BillingRunReport(
        day=day, days_run=plan.days, caught_up=caught_up, gap_refused=plan.gap_refused
    )
    return await _run(res, report, crash_after_chunks)


async def _run(
    res: Resources, report: BillingRunReport, crash_after_chunks: int | None
) -> BillingRunReport:
    settings = res.settings
    day = report.day
    started = time.perf_counter()
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
    now = business_now(settings, day)
    report.business_time = now
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
    summary = report.as_dict()
    summary["caught_up"] = [r["day"] for r in report.caught_up]  # their own lines say the rest
    log.info("billing run finished", **summary)
    return report


# --- queries of the run history ----------------------------------------------------------------


async def _last_finished_before(session: AsyncSession, day: date) -> date | None:
    value = await session.scalar(
        select(func.max(BillingRun.run_date)).where(
            BillingRun.status == BillingRunStatus.finished, BillingRun.run_date < day
        )
    )
    return value


async def _latest_finished(session: AsyncSession) -> tuple[date, dict[str, Any]] | None:
    row = (
        await session.execute(
            select(BillingRun.run_date, BillingRun.stats)
            .where(BillingRun.status == BillingRunStatus.finished)
            .order_by(BillingRun.run_date.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else (row[0], dict(row[1] or {}))


async def _is_finished(session: AsyncSession, day: date) -> bool:
    status = await session.scalar(select(BillingRun.status).where(BillingRun.run_date == day))
    return status is BillingRunStatus.finished


# --- background roles --------------------------------------------------------------------------


async def scheduler_tick(res: Resources, local_now: datetime) -> BillingRunReport | None:
    """Run (and catch up to) the local day once its clock passes BILLING_RUN_HOUR; None when
    it is too early or the day is already done."""
    settings = res.settings
    day = local_now.date()
    if local_now.hour < settings.billing_run_hour:
        return None
    async with unit_of_work(res.sessionmaker) as session:
        if await _is_finished(session, day):
            return None
    return await billing_run(res, day)


async def run_billing_scheduler(res: Resources, stop: asyncio.Event) -> None:
    """Background role: run the day's billing once the local clock passes BILLING_RUN_HOUR.
    Several processes may run it; the Redis lock and the idempotent charges keep it single."""

    async def tick() -> None:
        with contextlib.suppress(BillingRunInProgress):  # another process runs it
            await scheduler_tick(res, datetime.now(local_zone(res.settings)))

    await run_every(stop, SCHEDULER_TICK_S, tick, failed="billing scheduler tick failed")


async def expire_promised_payments(res: Resources, now: datetime | None = None) -> int:
    """One pass of the worker: remind of promised payments ending within 24 hours, expire
    those whose term ended and block the customers it leaves in debt. Safe to run in several
    processes at once (row locks; the reversal's ledger reference is unique)."""
    now = now or utcnow()
    async with unit_of_work(res.sessionmaker) as session:
        return await promised.expire_due(session, res.settings, now)


async def run_promised_expiry(res: Resources, stop: asyncio.Event) -> None:
    """Background role: promised payments expire within minutes of their term, not at the
    next daily run."""
    await run_every(
        stop,
        PROMISED_EXPIRY_INTERVAL_S,
        lambda: expire_promised_payments(res),
        failed="promised payment expiry failed",
    )


async def refresh_billing_metrics(res: Resources) -> None:
    """Set the billing gauges (backend.billing.metrics) from the latest finished run."""
    async with unit_of_work(res.sessionmaker) as session:
        latest = await _latest_finished(session)
    if latest is None:
        return
    day, stats = latest
    metrics.LAST_FINISHED_DAY.set(datetime.combine(day, clock_time.min, UTC).timestamp())
    refused = stats.get("gap_refused") or {}
    metrics.CATCHUP_REFUSED_DAYS.set(int(refused.get("days", 0)))
    metrics.CAUGHT_UP_DAYS.set(len(stats.get("caught_up") or []))


async def run_billing_monitor(res: Resources, stop: asyncio.Event) -> None:
    """Background role of every process that serves /metrics: keeps the billing gauges
    current, whichever process ran the billing."""
    await run_every(
        stop,
        MONITOR_INTERVAL_S,
        lambda: refresh_billing_metrics(res),
        failed="billing metrics refresh failed",
        quiet=True,
    )
