"""The billing run catches up missed days (docs/billing.md, "Missed days"), on PostgreSQL with the
real run: every day since the last completed one, in order, once; a gap larger than
BILLING_MAX_CATCHUP_DAYS is refused and reported, never charged blindly."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from structlog.testing import capture_logs

from backend import clock
from backend.app import create_app
from backend.billing import rules, tasks
from backend.billing.tasks import SimulatedCrash, billing_run
from backend.models import (
    Account,
    BillingRun,
    BillingRunStatus,
    Invoice,
    Transaction,
    TransactionReason,
)
from tests.backend.billing.conftest import with_settings
from tests.factories import make_customer, make_subscription, make_tariff

PRICE = 60000  # 2000 a day in November


async def _customers(session, n: int, *, balance: int = 1_000_000) -> list[tuple[int, int]]:
    tariff = await make_tariff(session, price=PRICE)
    made = []
    for _ in range(n):
        _, customer = await make_customer(session, with_user=False, balance=balance)
        sub = await make_subscription(session, customer, tariff, started_on=date(2026, 1, 1))
        made.append((customer.id, sub.id))
    await session.commit()
    return made


async def _charges(session) -> list[tuple[int, str]]:
    """(account id, reference) of every charge, in posting order."""
    session.expire_all()
    rows = await session.execute(
        select(Transaction.account_id, Transaction.reference)
        .where(Transaction.reason == TransactionReason.charge)
        .order_by(Transaction.id)
    )
    return [(int(a), str(r)) for a, r in rows.all()]


async def _finished_days(session) -> list[date]:
    session.expire_all()
    rows = await session.scalars(
        select(BillingRun.run_date)
        .where(BillingRun.status == BillingRunStatus.finished)
        .order_by(BillingRun.run_date)
    )
    return list(rows.all())


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def test_a_three_day_gap_is_charged_in_order_once_each(resources, session):
    made = await _customers(session, 2)
    await billing_run(resources, date(2026, 11, 14))  # the last completed run

    report = await billing_run(resources, date(2026, 11, 17))

    assert report.days_run == _days(date(2026, 11, 15), date(2026, 11, 17))
    assert [r["day"] for r in report.caught_up] == ["2026-11-15", "2026-11-16"]
    assert [r["charged"] for r in report.caught_up] == [2, 2]
    assert report.charged == 2 and report.gap_refused is None
    refs = [ref for _, ref in await _charges(session)]
    expected = [
        f"sub:{sub}:{day.isoformat()}"
        for day in _days(date(2026, 11, 14), date(2026, 11, 17))
        for _, sub in made
    ]
    assert refs == expected  # in order of the days, each once
    assert await _finished_days(session) == _days(date(2026, 11, 14), date(2026, 11, 17))
    # the JSON report says what it caught up
    printed = json.loads(json.dumps(report.as_dict()))
    assert printed["days_run"] == ["2026-11-15", "2026-11-16", "2026-11-17"]

    again = await billing_run(resources, date(2026, 11, 17))
    assert again.days_run == [date(2026, 11, 17)] and again.caught_up == []
    assert again.charged == 0
    assert len(await _charges(session)) == len(expected)
    balances = dict((await session.execute(select(Account.customer_id, Account.balance))).all())
    for customer_id, _ in made:
        assert balances[customer_id] == 1_000_000 - 4 * rules.daily_share(PRICE, date(2026, 11, 1))


async def test_a_run_unfinished_at_midnight_is_finished_by_the_next_one(resources, session):
    made = await _customers(session, 3)
    res = with_settings(resources, billing_chunk_size=1)
    await billing_run(res, date(2026, 11, 15))
    with pytest.raises(SimulatedCrash):
        await billing_run(res, date(2026, 11, 16), crash_after_chunks=1)

    report = await billing_run(res, date(2026, 11, 17))

    assert report.days_run == [date(2026, 11, 16), date(2026, 11, 17)]
    [resumed] = report.caught_up
    assert resumed["resumed_from"] == made[0][1] and resumed["charged"] == 2
    refs = [ref for _, ref in await _charges(session)]
    for day in ("2026-11-15", "2026-11-16", "2026-11-17"):
        assert sorted(r for r in refs if r.endswith(day)) == sorted(
            f"sub:{sub}:{day}" for _, sub in made
        )
    assert len(refs) == len(set(refs)) == 9


async def test_with_no_completed_run_it_starts_at_the_given_day(resources, session):
    await _customers(session, 1)
    report = await billing_run(resources, date(2026, 11, 17))
    assert report.days_run == [date(2026, 11, 17)] and report.caught_up == []
    assert [ref.rsplit(":", 1)[1] for _, ref in await _charges(session)] == ["2026-11-17"]


async def test_a_gap_over_the_limit_is_refused_loudly_and_not_charged(resources, session):
    made = await _customers(session, 1)
    res = with_settings(resources, billing_max_catchup_days=5)
    await billing_run(res, date(2026, 11, 1))

    with capture_logs() as logs:
        report = await billing_run(res, date(2026, 11, 17))

    assert report.gap_refused == {
        "first": "2026-11-02",
        "last": "2026-11-16",
        "days": 15,
        "last_finished": "2026-11-01",
        "max_catchup_days": 5,
    }
    assert report.days_run == [date(2026, 11, 17)]
    assert [ref.rsplit(":", 1)[1] for _, ref in await _charges(session)] == [
        "2026-11-01",
        "2026-11-17",
    ]
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [w["event"] for w in warnings] == ["billing catch-up refused"]
    assert warnings[0]["days"] == 15
    session.expire_all()
    run = await session.scalar(select(BillingRun).where(BillingRun.run_date == date(2026, 11, 17)))
    assert run is not None and run.stats["gap_refused"]["days"] == 15

    # the operators see it on /metrics
    await tasks.refresh_billing_metrics(res)
    app = create_app(res.settings, resources=res, roles=[])
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        text = (await client.get("/metrics")).text
    samples = {
        s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples
    }
    assert samples["billing_catchup_refused_days"] == 15
    assert samples["billing_last_finished_day_timestamp_seconds"] == (
        datetime(2026, 11, 17, tzinfo=UTC).timestamp()
    )

    # an operator charges the gap in steps the limit allows, oldest first
    part = await billing_run(res, date(2026, 11, 6))
    assert part.days_run == _days(date(2026, 11, 2), date(2026, 11, 6))
    assert made and len(await _charges(session)) == 7


async def test_a_missed_first_of_the_month_is_charged_in_period_start_mode(resources, session):
    made = await _customers(session, 2)
    res = with_settings(resources, charging_mode="period_start")
    await billing_run(res, date(2026, 11, 30))
    before = await _charges(session)  # whatever November still owed; December is not due

    report = await billing_run(res, date(2026, 12, 2))  # the 1st never ran

    assert report.days_run == [date(2026, 12, 1), date(2026, 12, 2)]
    assert report.caught_up[0]["charged"] == 2
    assert report.caught_up[0]["invoices_issued"] == 2
    december = [ref for _, ref in await _charges(session) if ref.endswith(":2026-12")]
    assert sorted(december) == sorted(f"sub:{sub}:2026-12" for _, sub in made)
    assert len(await _charges(session)) == len(before) + 2
    invoices = list(await session.scalars(select(Invoice)))
    assert {i.issued_on for i in invoices} == {date(2026, 12, 1)} and len(invoices) == 2
    again = await billing_run(res, date(2026, 12, 2))
    assert again.charged == 0 and len(await _charges(session)) == len(before) + 2


async def test_each_day_runs_at_its_own_business_time(resources, session, monkeypatch):
    """Every step of a back-dated day gets that day's clock, not the wall clock."""
    seen: list[tuple[date, datetime]] = []

    async def record(_session, _settings, day, now):
        seen.append((day, now))
        return 0

    monkeypatch.setattr(tasks, "PRE_CHARGE_STEPS", {"record": record})
    monkeypatch.setattr(tasks, "POST_CHARGE_STEPS", {"record_after": record})
    await billing_run(resources, date(2026, 11, 14))
    seen.clear()
    report = await billing_run(resources, date(2026, 11, 16))
    # Europe/Moscow: the 15th ends at 21:00 UTC
    end_15 = datetime(2026, 11, 15, 20, 59, 59, 999999, tzinfo=UTC)
    end_16 = datetime(2026, 11, 16, 20, 59, 59, 999999, tzinfo=UTC)
    assert seen == [
        (date(2026, 11, 15), end_15),
        (date(2026, 11, 15), end_15),
        (date(2026, 11, 16), end_16),
        (date(2026, 11, 16), end_16),
    ]
    assert report.business_time == end_16
    # today (and later) runs on the wall clock
    wall = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
    assert clock.business_now(resources.settings, date(2026, 11, 16), wall) == wall
    assert clock.business_now(resources.settings, date(2026, 11, 15), wall) == end_15


async def test_the_scheduler_catches_up_after_an_outage(resources, session):
    await _customers(session, 1)
    today = date(2026, 11, 17)
    await billing_run(resources, today - timedelta(days=3))
    local_now = datetime(2026, 11, 17, 5, 0, tzinfo=UTC).astimezone(
        clock.local_zone(resources.settings)
    )

    report = await tasks.scheduler_tick(resources, local_now)

    assert report is not None and report.days_run == _days(today - timedelta(days=2), today)
    assert await tasks.scheduler_tick(resources, local_now) is None  # today is done


async def test_the_command_prints_the_days_it_ran_and_a_refused_gap(resources, session, capsys):
    """`python main.py billing-run --date D` (main._billing_run is its body)."""
    import main

    def report(out: str) -> dict:
        # the JSON report is the last line (unconfigured structlog prints to stdout in tests)
        parsed: dict = json.loads(out.strip().splitlines()[-1])
        return parsed

    await _customers(session, 1)
    settings = resources.settings.model_copy(update={"billing_max_catchup_days": 2})

    assert await main._billing_run(settings, "2026-11-14") == 0
    assert report(capsys.readouterr().out)["days_run"] == ["2026-11-14"]
    assert await main._billing_run(settings, "2026-11-16") == 0
    printed = report(capsys.readouterr().out)
    assert printed["days_run"] == ["2026-11-15", "2026-11-16"]
    assert [r["day"] for r in printed["caught_up"]] == ["2026-11-15"]

    assert await main._billing_run(settings, "2026-11-20") == 3  # 17..19 missed: over 2
    out, err = capsys.readouterr()
    assert report(out)["gap_refused"]["days"] == 3
    assert "3 missed days (2026-11-17..2026-11-19) were not charged" in err

    assert await main._billing_run(settings, "2026-11-31") == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
