"""Property-based checks of the proration arithmetic (no database)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.billing import rules
from backend.billing.promised import promised_amount
from backend.billing.tariff_change import cost_between, monthly_price, proration
from backend.models import BillingPeriod

days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
fees = st.integers(min_value=0, max_value=10_000_000_00)
periods = st.sampled_from([BillingPeriod.monthly, BillingPeriod.daily])
modes = st.sampled_from(["daily_share", "period_start"])


def _month_days(day: date) -> list[date]:
    start = rules.month_start(day)
    return [start + timedelta(days=i) for i in range(rules.days_in_month(day))]


@given(fee=fees, day=days, data=st.data())
def test_shares_over_any_span_within_a_month_add_up(fee, day, data):
    n = rules.days_in_month(day)
    a, b, c = sorted(data.draw(st.lists(st.integers(1, n), min_size=3, max_size=3)))
    first, middle, last = day.replace(day=a), day.replace(day=b), day.replace(day=c)

    span = rules.shares_between(fee, first, last)

    assert isinstance(span, int) and span >= 0
    assert span == sum(rules.daily_share(fee, d) for d in _month_days(day) if first <= d <= last)
    # a span splits anywhere into two spans that add up
    assert span == rules.shares_between(fee, first, middle) + rules.shares_between(
        fee, middle + timedelta(days=1), last
    )
    assert rules.shares_between(fee, rules.month_start(day), rules.month_end(day)) == fee


@given(fee=fees, first=days, length=st.integers(0, 800))
def test_shares_across_months_add_up_to_whole_fees(fee, first, length):
    last = first + timedelta(days=length)
    total = rules.shares_between(fee, first, last)
    by_day = 0
    cursor = first
    while cursor <= last:
        by_day += rules.daily_share(fee, cursor)
        cursor += timedelta(days=1)
    assert total == by_day


def _simulate_month(
    old: tuple[int, BillingPeriod],
    new: tuple[int, BillingPeriod],
    today: date,
    mode: str,
    ran_today: bool,
) -> tuple[int, int, int]:
    """Run the month as the billing run would (a charge per unposted reference), change the
    tariff on `today` and return (total paid, charge_now, extra_cost)."""
    posted: dict[str, int] = {}

    def run(day: date, price: int, period: BillingPeriod) -> None:
        amount = rules.charge_for_day(price, period, day, mode)
        reference = rules.charge_reference(0, period, day, mode)
        if amount > 0 and reference not in posted:
            posted[reference] = amount

    for day in _month_days(today):
        if day < today:
            run(day, *old)
    if ran_today:
        run(today, *old)
    charged_today = rules.charge_reference(0, old[1], today, mode) in posted
    result = proration(
        old[0],
        old[1],
        new[0],
        new[1],
        today,
        mode,
        ran_today=ran_today,
        charged_today=charged_today,
    )
    for day in _month_days(today):
        if day > today or (day == today and not ran_today):
            run(day, *new)
    return sum(posted.values()) + result.charge_now, result.charge_now, result.extra_cost


@settings(max_examples=300)
@given(
    old_price=st.integers(0, 5_000_000),
    new_price=st.integers(0, 5_000_000),
    old_period=periods,
    new_period=periods,
    today=days,
    mode=modes,
    ran_today=st.booleans(),
)
def test_upgrade_now_makes_the_month_cost_old_until_yesterday_plus_new_from_today(
    old_price, new_price, old_period, new_period, today, mode, ran_today
):
    """Whatever the billing run already charged and will still charge, the change's own
    posting makes the month exact: old shares until yesterday + new shares from today."""
    old, new = (old_price, old_period), (new_price, new_period)

    total, charge_now, extra = _simulate_month(old, new, today, mode, ran_today)

    month_start, month_end = rules.month_start(today), rules.month_end(today)
    expected = cost_between(
        old_price, old_period, month_start, today - timedelta(days=1)
    ) + cost_between(new_price, new_period, today, month_end)
    assert total == expected
    assert isinstance(charge_now, int) and isinstance(extra, int)
    assert extra == cost_between(new_price, new_period, today, month_end) - cost_between(
        old_price, old_period, today, month_end
    )
    if monthly_price(new_price, new_period, today) > monthly_price(old_price, old_period, today):
        assert extra >= 0, "an upgrade never costs less than staying for the rest of the month"


@given(
    old_price=st.integers(1, 5_000_000),
    step=st.integers(31, 5_000_000),
    today=days,
    mode=modes,
    ran_today=st.booleans(),
)
def test_monthly_upgrade_never_posts_a_negative_amount(old_price, step, today, mode, ran_today):
    """Between two monthly tariffs at least 0.31 apart (any real pair), an upgrade posts no
    refund; in period-start mode it posts the whole extra cost at once."""
    monthly = BillingPeriod.monthly
    # a priced tariff is charged by the run that has passed (period-start: on the 1st)
    charged = ran_today or (mode == "period_start" and today.day > 1)
    result = proration(
        old_price,
        monthly,
        old_price + step,
        monthly,
        today,
        mode,
        ran_today=ran_today,
        charged_today=charged,
    )
    assert result.charge_now >= 0
    assert result.extra_cost >= 0
    if mode == "period_start" and charged:
        assert result.charge_now == result.extra_cost


def test_daily_share_upgrade_after_the_days_charge_posts_the_days_difference():
    today = date(2026, 11, 17)  # 30 days
    monthly = BillingPeriod.monthly
    result = proration(
        60000, monthly, 90000, monthly, today, "daily_share", ran_today=True, charged_today=True
    )
    assert result.charge_now == 3000 - 2000
    assert result.extra_cost == 14 * 3000 - 14 * 2000
    before_run = proration(
        60000, monthly, 90000, monthly, today, "daily_share", ran_today=False, charged_today=False
    )
    assert before_run.charge_now == 0  # the run charges today at the new tariff itself


def test_period_start_upgrade_posts_the_rest_of_the_month_at_once():
    today = date(2026, 11, 17)
    monthly = BillingPeriod.monthly
    result = proration(
        60000, monthly, 90000, monthly, today, "period_start", ran_today=True, charged_today=True
    )
    assert result.charge_now == result.extra_cost == 14000


@given(
    balance=st.integers(-10_000_000, 10_000_000),
    daily=st.integers(0, 100_000),
    term=st.integers(1, 7),
    monthly=st.integers(0, 3_000_000),
    cap=st.integers(1, 3),
)
def test_promised_amount_is_debt_plus_term_capped(balance, daily, term, monthly, cap):
    amount = promised_amount(balance, daily, term, monthly, cap)
    assert isinstance(amount, int)
    assert amount <= cap * monthly
    assert amount == min(max(0, -balance) + daily * term, cap * monthly)
