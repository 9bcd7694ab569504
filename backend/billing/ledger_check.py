"""The ledger check: every account's cached balance against the sum of its ledger rows
(docs/operations.md, "Ledger check").

`backend.billing.ledger` keeps `accounts.balance == sum(transactions.amount)` in every
transaction; this job proves it still holds. It runs daily in the worker
(`run_ledger_check_scheduler`) and on demand (`python -m backend.billing.ledger_check`). Each
check writes a `ledger.check` audit row; a mismatch also writes a `ledger.mismatch` row (admins
see both in the audit log), logs at ERROR and sets the gauge `provider_desk_ledger_mismatches`.
Every process that serves /metrics reads the latest check back from the audit log
(`run_ledger_monitor`), whichever process ran it."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import repository as audit_repository
from backend.audit import service as audit
from backend.clock import utcnow
from backend.config import Settings
from backend.db import unit_of_work
from backend.logging import get_logger
from backend.periodic import run_every
from backend.state import Resources

log = get_logger("billing.ledger_check")

CHECK_ACTION = "ledger.check"
MISMATCH_ACTION = "ledger.mismatch"
# Accounts named in the alert; the count is always complete.
MAX_LISTED = 100
SCHEDULER_INTERVAL_S = 300.0
MONITOR_INTERVAL_S = 60.0
LOCK_KEY = "lock:ledger-check"

MISMATCHES = Gauge(
    "provider_desk_ledger_mismatches",
    "Accounts whose cached balance differed from the sum of their ledger rows at the last check",
    registry=None,
)
LAST_CHECK = Gauge(
    "provider_desk_ledger_last_check_timestamp_seconds",
    "When the last ledger check ran (Unix time)",
    registry=None,
)
GAUGES = (MISMATCHES, LAST_CHECK)


def register(registry: CollectorRegistry) -> None:
    """Expose the ledger gauges on an app's registry (one process may build several apps)."""
    for gauge in GAUGES:
        registry.register(gauge)


@dataclass(frozen=True)
class Mismatch:
    account_id: int
    customer_id: int
    balance: int
    ledger_total: int

    def as_dict(self) -> dict[str, int]:
        return {
            "account_id": self.account_id,
            "customer_id": self.customer_id,
            "balance": self.balance,
            "ledger_total": self.ledger_total,
            "difference": self.balance - self.ledger_total,
        }


@dataclass
class LedgerCheckReport:
    checked_at: datetime
    accounts: int = 0
    mismatches: int = 0
    listed: list[Mismatch] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "accounts": self.accounts,
            "mismatches": self.mismatches,
            "listed": [m.as_dict() for m in self.listed],
        }


# One statement, so one snapshot: a balance and its ledger rows change in one transaction, and
# a single statement sees either both or neither of a concurrent change. The totals row is
# joined to the (first MAX_LISTED) mismatched accounts; with none, it comes alone.
_CHECK = text(
    """
WITH ledger AS (
    SELECT account_id, sum(amount) AS total FROM transactions GROUP BY account_id
),
compared AS (
    SELECT a.id, a.customer_id, a.balance, coalesce(l.total, 0) AS ledger_total
    FROM accounts a LEFT JOIN ledger l ON l.account_id = a.id
),
totals AS (
    SELECT count(*) AS accounts,
           coalesce(sum(CASE WHEN balance <> ledger_total THEN 1 ELSE 0 END), 0) AS mismatches
    FROM compared
),
listed AS (
    SELECT * FROM compared WHERE balance <> ledger_total ORDER BY id LIMIT :limit
)
SELECT t.accounts, t.mismatches, m.id, m.customer_id, m.balance, m.ledger_total
FROM totals t LEFT JOIN listed m ON 1 = 1
ORDER BY m.id
"""
)


async def find_mismatches(session: AsyncSession, now: datetime) -> LedgerCheckReport:
    rows = (await session.execute(_CHECK, {"limit": MAX_LISTED})).all()
    report = LedgerCheckReport(checked_at=now)
    for accounts, mismatches, account_id, customer_id, balance, ledger_total in rows:
        report.accounts, report.mismatches = int(accounts), int(mismatches)
        if account_id is not None:
            report.listed.append(
                Mismatch(int(account_id), int(customer_id), int(balance), int(ledger_total))
            )
    return report


def _set_gauges(mismatches: int, checked_at: datetime) -> None:
    MISMATCHES.set(mismatches)
    LAST_CHECK.set(checked_at.timestamp())


async def check_ledger(res: Resources) -> LedgerCheckReport:
    """Compare every account with its ledger now; record the result (and alert on a mismatch)."""
    now = utcnow()
    async with unit_of_work(res.sessionmaker) as session:
        report = await find_mismatches(session, now)
        await audit.record(
            session,
            CHECK_ACTION,
            object_type="ledger",
            accounts=report.accounts,
            mismatches=report.mismatches,
        )
        if report.mismatches:
            await audit.record(
                session,
                MISMATCH_ACTION,
                object_type="ledger",
                accounts=report.accounts,
                mismatches=report.mismatches,
                listed=[m.as_dict() for m in report.listed],
            )
    _set_gauges(report.mismatches, now)
    if report.mismatches:
        log.error(
            "ledger mismatch: cached balances differ from the sum of their ledger rows",
            mismatches=report.mismatches,
            accounts=report.accounts,
            first=[m.as_dict() for m in report.listed[:10]],
        )
    else:
        log.info("ledger check clean", accounts=report.accounts)
    return report


def _start_of_business_day(settings: Settings, now: datetime) -> datetime:
    zone = ZoneInfo(settings.billing_timezone)
    return datetime.combine(now.astimezone(zone).date(), time.min, zone)


async def check_due(res: Resources, now: datetime) -> bool:
    """Daily: due when no check has run yet in the current business day."""
    async with res.sessionmaker() as session:
        latest = await audit_repository.latest(session, CHECK_ACTION)
    return latest is None or latest.at < _start_of_business_day(res.settings, now)


async def check_if_due(res: Resources) -> LedgerCheckReport | None:
    """One tick of the scheduler. Several workers may tick at once: a Redis lock makes one of
    them check, and the others find it done."""
    lock = res.redis.lock(LOCK_KEY, timeout=3600, blocking=False)
    if not await lock.acquire():
        return None
    try:
        if not await check_due(res, utcnow()):
            return None
        return await check_ledger(res)
    finally:
        await lock.release()


async def run_ledger_check_scheduler(res: Resources, stop: asyncio.Event) -> None:
    """Background role of the worker: the ledger check once a business day."""
    await run_every(
        stop, SCHEDULER_INTERVAL_S, lambda: check_if_due(res), failed="ledger check tick failed"
    )


async def refresh_ledger_metrics(res: Resources) -> None:
    """Set the ledger gauges from the latest check in the audit log."""
    async with res.sessionmaker() as session:
        latest = await audit_repository.latest(session, CHECK_ACTION)
    if latest is not None:
        _set_gauges(int((latest.details or {}).get("mismatches", 0)), latest.at)


async def run_ledger_monitor(res: Resources, stop: asyncio.Event) -> None:
    """Background role of every process that serves /metrics: keeps the ledger gauges current,
    whichever process ran the check."""
    await run_every(
        stop,
        MONITOR_INTERVAL_S,
        lambda: refresh_ledger_metrics(res),
        failed="ledger metrics refresh failed",
        quiet=True,
    )


async def _main(settings: Settings) -> int:
    res = Resources.create(settings)
    try:
        report = await check_ledger(res)
    finally:
        await res.close()
    import json

    print(json.dumps(report.as_dict(), ensure_ascii=False))
    return 1 if report.mismatches else 0


def main() -> None:
    """`python -m backend.billing.ledger_check`: check now, print the report as JSON; the exit
    status is 1 when an account does not match its ledger."""
    from backend.config import get_settings
    from backend.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    sys.exit(asyncio.run(_main(settings)))


if __name__ == "__main__":
    main()
