"""Pure money arithmetic: display strings and days_left."""

from __future__ import annotations

from datetime import date

import pytest

from backend.billing.rules import format_money
from backend.billing.service import days_left
from backend.models import BillingPeriod


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (35000, "350.00"),
        (0, "0.00"),
        (5, "0.05"),
        (99, "0.99"),
        (100, "1.00"),
        (-550, "-5.50"),
        (-5, "-0.05"),
        (1_000_000_000, "10000000.00"),
    ],
)
def test_format_money(amount, text):
    assert format_money(amount) == text


@pytest.mark.parametrize(
    ("balance", "price", "today", "expected"),
    [
        # 700.00 a month in a 30-day month is 23.33 a day: 350.00 lasts 15 days
        (35000, 70000, date(2026, 11, 26), 15),
        # 31 days: 15.5 days, whole days only
        (35000, 70000, date(2026, 12, 1), 15),
        # February: 28 days -> exactly 14; leap February: 29 days -> 14.5 -> 14
        (35000, 70000, date(2027, 2, 10), 14),
        (35000, 70000, date(2028, 2, 10), 14),
        # exactly one month's fee lasts the whole month
        (70000, 70000, date(2027, 2, 10), 28),
        (70000, 70000, date(2026, 1, 31), 31),
        # less than one day's share
        (100, 70000, date(2026, 11, 26), 0),
        # integer arithmetic: no float error at large values
        (999_999_999, 3, date(2026, 1, 1), 999_999_999 * 31 // 3),
    ],
)
def test_days_left_monthly(balance, price, today, expected):
    assert days_left(balance, price, BillingPeriod.monthly, today) == expected


def test_days_left_daily():
    today = date(2026, 11, 26)
    assert days_left(35000, 5000, BillingPeriod.daily, today) == 7
    assert days_left(34999, 5000, BillingPeriod.daily, today) == 6
    assert days_left(4999, 5000, BillingPeriod.daily, today) == 0


def test_days_left_edges():
    today = date(2026, 11, 26)
    assert days_left(0, 70000, BillingPeriod.monthly, today) == 0
    assert days_left(-5000, 70000, BillingPeriod.monthly, today) == 0
    assert days_left(-5000, 500, BillingPeriod.daily, today) == 0
    # a free tariff never runs out
    assert days_left(35000, 0, BillingPeriod.monthly, today) is None
