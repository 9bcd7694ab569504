"""The charge rule is one source: its SQL form (what the PostgreSQL run interpolates) and its
Python form (`rules.charge_for_day` / `rules.charge_reference`, what the SQLite run posts)
agree on random calendars, and so do whole billing runs on the two databases."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import rules
from backend.billing.schemas import MAX_TARIFF_PRICE
from backend.billing.tasks import billing_run
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from backend.migrate import upgrade
from backend.models import Account, BillingPeriod, Subscription, SubscriptionStatus, Transaction
from backend.state import Resources
from tests.backend.billing.conftest import assert_ledger_invariant, with_settings
from tests.factories import make_customer, make_subscription, make_tariff


def _month_edge(year: int, month: int, which: int) -> date:
    """The 1st, the 2nd, or the last, second last or third last day of the month."""
    n = rules.days_in_month(date(year, month, 1))
    return date(year, month, {0: 1, 1: 2, 2: n, 3: n - 1, 4: n - 2}[which])


days = st.one_of(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    st.builds(_month_edge, st.integers(2000, 2099), st.integers(1, 12), st.integers(0, 4)),
    st.sampled_from(
        [
            *(date(2024, 2, 28), date(2024, 2, 29), date(2026, 2, 28), date(2100, 2, 28)),
            *(date(2026, 3, 1), date(2026, 1, 31), date(2026, 7, 31), date(2026, 12, 31)),
        ]
    ),
)
prices = st.one_of(st.integers(0, 10**7), st.sampled_from([1, 29, 30, 31, MAX_TARIFF_PRICE]))
periods = st.sampled_from(list(BillingPeriod))
subscription_ids = st.integers(1, 2**62)


@dataclasses.dataclass(frozen=True)
class Case:
    day: date
    price: int
    period: BillingPeriod
    sid: int


cases = st.builds(Case, days, prices, periods, subscription_ids)

# The rule over a batch of days: the day's values are columns here, not bind parameters.
_BATCH_TERMS = rules.SqlTerms(d="d", n="n", day_key="day_key", month_key="month_key")
_BATCH = """
SELECT i, {columns}
FROM unnest(CAST(:i AS int[]), CAST(:sid AS bigint[]), CAST(:price AS bigint[]),
            CAST(:billing_period AS text[]), CAST(:d AS int[]), CAST(:n AS int[]),
            CAST(:day_key AS text[]), CAST(:month_key AS text[]))
     AS c(i, sid, price, billing_period, d, n, day_key, month_key)
ORDER BY i
"""


# The rule as the run binds it: the day's values are the bind parameters of the run.
_ONE_DAY = """
SELECT i, {columns} FROM (VALUES {values}) AS c(i, sid, price, billing_period) ORDER BY i
"""


def _columns(terms: rules.SqlTerms | None) -> str:
    return ", ".join(
        f"{rules.charge_amount_sql(mode, terms)}, {rules.charge_reference_sql(mode, terms)}"
        for mode in rules.CHARGING_MODES
    )


def _in_python(case: Case) -> tuple[Any, ...]:
    return tuple(
        value
        for mode in rules.CHARGING_MODES
        for value in (
            rules.charge_for_day(case.price, case.period, case.day, mode),
            rules.charge_reference(case.sid, case.period, case.day, mode),
        )
    )


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(cases, min_size=1, max_size=40))
async def test_sql_rule_agrees_with_python_rule(resources, batch):
    """Every case of a batch, both charging modes, in one round trip."""
    per_day = [rules.charge_sql_params(c.day) for c in batch]
    params = {
        "i": list(range(len(batch))),
        "sid": [c.sid for c in batch],
        "price": [c.price for c in batch],
        "billing_period": [c.period.value for c in batch],
        **{key: [p[key] for p in per_day] for key in ("d", "n", "day_key", "month_key")},
    }
    async with resources.engine.connect() as conn:
        rows = (
            await conn.execute(text(_BATCH.format(columns=_columns(_BATCH_TERMS))), params)
        ).all()
    assert [tuple(row[1:]) for row in rows] == [_in_python(c) for c in batch]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    day=days,
    tariffs=st.lists(st.tuples(prices, periods, subscription_ids), min_size=1, max_size=20),
)
async def test_sql_rule_with_the_runs_bind_parameters(resources, day, tariffs):
    """The form the run interpolates as it is (`rules.SqlTerms()`), with the day's values
    bound as the run binds them (`rules.charge_sql_params`)."""
    values = ", ".join(
        f"({i}, CAST(:sid{i} AS bigint), CAST(:price{i} AS bigint), :period{i})"
        for i in range(len(tariffs))
    )
    params: dict[str, Any] = dict(rules.charge_sql_params(day))
    for i, (price, period, sid) in enumerate(tariffs):
        params |= {f"sid{i}": sid, f"price{i}": price, f"period{i}": period.value}
    statement = text(_ONE_DAY.format(columns=_columns(None), values=values))
    async with resources.engine.connect() as conn:
        rows = (await conn.execute(statement, params)).all()
    expected = [_in_python(Case(day, price, period, sid)) for price, period, sid in tariffs]
    assert [tuple(row[1:]) for row in rows] == expected


# --- whole runs: the PostgreSQL statement and the Python path on SQLite ------------------------


@dataclasses.dataclass(frozen=True)
class Calendar:
    """A random month or so of billing: tariffs, customers with one to three subscriptions
    that start, end, are frozen or blocked at random, and the days the run covers."""

    mode: str
    chunk: int
    first_day: date
    last_day: date
    tariffs: list[tuple[int, BillingPeriod]]
    customers: list[tuple[int, list[dict[str, Any]]]]  # (balance, subscriptions)


def _calendar(seed: int, first: date) -> Calendar:
    rnd = random.Random(seed)
    last = first + timedelta(days=rnd.randint(15, 31))
    tariffs = [
        (rnd.choice([1, 31, 60000, 70001, rnd.randint(1, 10**7)]), BillingPeriod.monthly),
        (rnd.choice([0, 2500, rnd.randint(1, 10**6)]), BillingPeriod.daily),
        (rnd.choice([0, 29, 70001, rnd.randint(0, 10**7)]), rnd.choice(list(BillingPeriod))),
    ]
    span = (last - first).days
    customers = []
    for _ in range(rnd.randint(8, 14)):
        subscriptions = []
        for _ in range(rnd.randint(1, 3)):
            started = first + timedelta(days=rnd.randint(-60, span))
            ended = started + timedelta(days=rnd.randint(0, 50)) if rnd.random() < 0.3 else None
            status = rnd.choice([SubscriptionStatus.active] * 5 + list(SubscriptionStatus))
            subscriptions.append(
                {
                    "tariff": rnd.randrange(len(tariffs)),
                    "started_on": started,
                    "ended_on": ended,
                    "status": status,
                }
            )
        customers.append((rnd.choice([0, 500, 3000, 100000, rnd.randint(0, 10**6)]), subscriptions))
    return Calendar(
        mode=rules.CHARGING_MODES[seed % 2],
        chunk=rnd.randint(2, 5),
        first_day=first,
        last_day=last,
        tariffs=tariffs,
        customers=customers,
    )


async def _lay_out(session: AsyncSession, calendar: Calendar) -> None:
    tariffs = [
        await make_tariff(session, name=f"Tariff {i}", price=price, billing_period=period)
        for i, (price, period) in enumerate(calendar.tariffs)
    ]
    for balance, subscriptions in calendar.customers:
        _, customer = await make_customer(session, with_user=False, balance=balance)
        for spec in subscriptions:
            await make_subscription(
                session,
                customer,
                tariffs[spec["tariff"]],
                started_on=spec["started_on"],
                ended_on=spec["ended_on"],
                status=spec["status"],
                period_start=rules.month_start(spec["started_on"]),
                period_end=rules.month_end(spec["started_on"]),
            )
    await session.commit()


async def _run_calendar(res: Resources, calendar: Calendar) -> dict[str, Any]:
    """Run the calendar's days (the first, then the last: the run catches up the days between,
    oldest first; then the last again, which charges nothing) and read back the ledger."""
    async with res.sessionmaker() as session:
        await _lay_out(session, calendar)
    await billing_run(res, calendar.first_day)
    report = await billing_run(res, calendar.last_day)
    assert report.days_run[-1] == calendar.last_day and not report.gap_refused
    again = await billing_run(res, calendar.last_day)
    assert again.charged == 0
    async with res.sessionmaker() as session:
        await assert_ledger_invariant(session)
        ledger = (
            await session.execute(
                select(
                    Account.customer_id,
                    Transaction.reference_kind,
                    Transaction.reference,
                    Transaction.reason,
                    Transaction.amount,
                    Transaction.balance_after,
                    Transaction.description,
                ).join(Account, Account.id == Transaction.account_id)
            )
        ).all()
        statuses = (await session.execute(select(Subscription.id, Subscription.status))).all()
        balances = (await session.execute(select(Account.customer_id, Account.balance))).all()
    return {
        "ledger": sorted(tuple(row) for row in ledger),
        "statuses": sorted(tuple(row) for row in statuses),
        "balances": sorted(tuple(row) for row in balances),
    }


# Where the days run start: across February's end (leap and not), a 30- and a 31-day month's,
# a year's, and from a 1st.
FIRST_DAYS = [
    date(2028, 2, 20),
    date(2026, 2, 14),
    date(2026, 4, 25),
    date(2026, 7, 20),
    date(2026, 12, 20),
    date(2027, 3, 1),
    date(2029, 8, 29),
    date(2030, 10, 31),
]


@pytest.mark.parametrize(("seed", "first"), list(enumerate(FIRST_DAYS)))
async def test_sqlite_and_postgres_runs_post_the_same_ledger(tmp_path, resources, seed, first):
    """The same random calendar run on PostgreSQL (the set-based statement) and on SQLite
    (the rule in Python, `ledger.post`): the same charges, amounts, references and running
    balances, the same blocks."""
    calendar = _calendar(seed, first)
    overrides: dict[str, Any] = {
        "charging_mode": calendar.mode,
        "billing_chunk_size": calendar.chunk,
        "generate_period_documents": False,
    }
    on_postgres = await _run_calendar(with_settings(resources, **overrides), calendar)

    sqlite_settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        redis_url=resources.settings.redis_url,
        data_dir=resources.settings.data_dir,
        _env_file=None,  # type: ignore[call-arg]
        **overrides,
    )
    engine = create_engine(sqlite_settings)
    try:
        await upgrade(engine)
        sqlite = dataclasses.replace(
            resources,
            settings=sqlite_settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
        )
        on_sqlite = await _run_calendar(sqlite, calendar)
    finally:
        await engine.dispose()

    assert any(row[1] == "charge" for row in on_postgres["ledger"]), "the calendar charged nothing"
    assert on_sqlite == on_postgres
