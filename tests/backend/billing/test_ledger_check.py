"""The daily ledger check: every account's cached balance against the sum of its ledger rows,
with a gauge, an ERROR log line and an alert in the audit log when they differ."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from structlog.testing import capture_logs

from backend.app import default_roles
from backend.billing import ledger, ledger_check
from backend.models import AuditEntry, TransactionReason, utcnow
from tests.conftest import make_settings
from tests.factories import make_customer


async def _customers_with_money(session) -> list[int]:
    ids = []
    for balance in (50000, 0, 12345):
        _, customer = await make_customer(session, balance=balance)
        ids.append(customer.id)
    await ledger.post(session, customer_id=ids[0], amount=-700, reason=TransactionReason.charge)
    await session.commit()
    return ids


async def _audit(session, action: str) -> list[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    )
    return list(rows)


async def _gauge_lines(client) -> list[str]:
    r = await client.get("/metrics")
    assert r.status_code == 200
    return [line for line in r.text.splitlines() if line.startswith("provider_desk_ledger")]


async def test_a_clean_ledger_reports_zero(resources, session, client):
    await _customers_with_money(session)
    ledger_check.MISMATCHES.set(99)
    with capture_logs() as logs:
        report = await ledger_check.check_ledger(resources)
    assert (report.accounts, report.mismatches, report.listed) == (3, 0, [])
    assert not [e for e in logs if e["log_level"] == "error"]
    [check] = await _audit(session, "ledger.check")
    assert check.details == {"accounts": 3, "mismatches": 0}
    assert await _audit(session, "ledger.mismatch") == []
    assert "provider_desk_ledger_mismatches 0.0" in await _gauge_lines(client)


async def test_an_edited_cached_balance_is_detected(resources, session, client):
    ids = await _customers_with_money(session)
    await session.execute(
        text("UPDATE accounts SET balance = balance + 1 WHERE customer_id = :id"), {"id": ids[2]}
    )
    await session.commit()
    with capture_logs() as logs:
        report = await ledger_check.check_ledger(resources)
    assert report.accounts == 3
    assert report.mismatches == 1
    [m] = report.listed
    assert (m.customer_id, m.balance, m.ledger_total) == (ids[2], 12346, 12345)
    errors = [e for e in logs if e["log_level"] == "error"]
    assert len(errors) == 1 and errors[0]["mismatches"] == 1
    [alert] = await _audit(session, "ledger.mismatch")
    assert alert.details["mismatches"] == 1
    assert alert.details["listed"][0]["customer_id"] == ids[2]
    assert alert.details["listed"][0]["difference"] == 1
    assert "provider_desk_ledger_mismatches 1.0" in await _gauge_lines(client)


async def test_a_ledger_row_removed_behind_the_trigger_is_detected(resources, session):
    ids = await _customers_with_money(session)
    # as the superuser, bypassing the append-only trigger (what the app role cannot do)
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(
        text(
            "DELETE FROM transactions WHERE account_id ="
            " (SELECT id FROM accounts WHERE customer_id = :id)"
        ),
        {"id": ids[0]},
    )
    await session.commit()
    report = await ledger_check.check_ledger(resources)
    assert report.mismatches == 1
    [m] = report.listed
    assert (m.customer_id, m.balance, m.ledger_total) == (ids[0], 50000 - 700, 0)
    assert ledger_check.MISMATCHES._value.get() == 1


async def test_runs_once_a_business_day_and_on_demand(resources, session, settings):
    await _customers_with_money(session)
    first = await ledger_check.check_if_due(resources)
    assert first is not None and first.mismatches == 0
    assert await ledger_check.check_if_due(resources) is None  # done for today
    assert len(await _audit(session, "ledger.check")) == 1
    # a check from yesterday does not count for today
    assert await ledger_check.check_due(resources, utcnow() + timedelta(days=1))
    # on demand, whatever the schedule: the exit status tells a mismatch
    assert await ledger_check._main(settings) == 0
    await session.execute(text("UPDATE accounts SET balance = balance - 5"))
    await session.commit()
    assert await ledger_check._main(settings) == 1
    assert len(await _audit(session, "ledger.check")) == 3


async def test_metrics_follow_the_latest_check_in_any_process(resources, session):
    await _customers_with_money(session)
    await session.execute(text("UPDATE accounts SET balance = balance + 10"))
    await session.commit()
    await ledger_check.check_ledger(resources)
    # another process (an API) that did not run the check reads it back from the audit log
    ledger_check.MISMATCHES.set(0)
    ledger_check.LAST_CHECK.set(0)
    await ledger_check.refresh_ledger_metrics(resources)
    assert ledger_check.MISMATCHES._value.get() == 3
    assert ledger_check.LAST_CHECK._value.get() > 0


def test_the_worker_runs_the_check_and_every_process_reports_it():
    worker = default_roles(make_settings(run_worker=True), with_bot=False)
    assert ledger_check.run_ledger_check_scheduler in worker
    api = default_roles(make_settings(run_worker=False), with_bot=False)
    assert ledger_check.run_ledger_check_scheduler not in api
    assert ledger_check.run_ledger_monitor in api


@pytest.mark.slow
async def test_the_documented_command_checks_now(resources, session, settings):
    ids = await _customers_with_money(session)
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "DATA_DIR": str(settings.data_dir),
        "APP_ENV": "test",
    }
    command = [sys.executable, "-m", "backend.billing.ledger_check"]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    done = await asyncio.to_thread(run)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mismatches"] == 0
    await session.execute(
        text("UPDATE accounts SET balance = 1 WHERE customer_id = :id"), {"id": ids[1]}
    )
    await session.commit()
    done = await asyncio.to_thread(run)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert (report["mismatches"], report["listed"][0]["customer_id"]) == (1, ids[1])
