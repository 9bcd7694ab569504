"""Pure money arithmetic of billing: integer minor units only, no I/O.

A monthly fee charged day by day is split so that the month's daily shares add up exactly to
the fee: the share of day d in a month of n days is floor(fee*d/n) - floor(fee*(d-1)/n)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from backend.models import BillingPeriod


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=days_in_month(day))


def next_month_start(day: date) -> date:
    return month_end(day) + timedelta(days=1)


def daily_share(monthly_fee: int, day: date) -> int:
    """The part of a monthly fee charged on `day`."""
    n = days_in_month(day)
    d = day.day
    return monthly_fee * d // n - monthly_fee * (d - 1) // n


def shares_between(monthly_fee: int, first: date, last: date) -> int:
    """Sum of the daily shares from `first` to `last` inclusive (any span, across months)."""
    if last < first:
        return 0
    total = 0
    cursor = first
    while cursor <= last:
        end = min(last, month_end(cursor))
        n = days_in_month(cursor)
        total += monthly_fee * end.day // n - monthly_fee * (cursor.day - 1) // n
        cursor = end + timedelta(days=1)
    return total


def rest_of_month(monthly_fee: int, day: date) -> int:
    """The daily shares from `day` to the end of its month: the fee minus the shares of the
    days before, fee - floor(fee*(d-1)/n). On the 1st that is the whole fee."""
    return monthly_fee - monthly_fee * (day.day - 1) // days_in_month(day)


def charge_for_day(price: int, period: BillingPeriod, day: date, charging_mode: str) -> int:
    """What a subscription is charged on `day` if its charge reference is not yet posted.

    In period-start mode a monthly fee has one reference per month, so the run charges it
    once, on the first day it finds the subscription chargeable that month: the whole fee on
    the 1st, and for a subscription that starts (or is first chargeable) on day d the rest of
    the month, prorated exactly as the daily shares of those days (`rest_of_month`)."""
    if period is BillingPeriod.daily:
        return price
    if charging_mode == "daily_share":
        return daily_share(price, day)
    return rest_of_month(price, day)


def charge_reference(subscription_id: int, period: BillingPeriod, day: date, mode: str) -> str:
    """The ledger reference that makes a charge happen once per subscription per period."""
    if period is BillingPeriod.monthly and mode == "period_start":
        return f"sub:{subscription_id}:{day:%Y-%m}"
    return f"sub:{subscription_id}:{day.isoformat()}"


def average_daily_cost(price: int, period: BillingPeriod, day: date) -> int:
    """Cost of one day at this tariff around `day` (for "enough until" and low-balance)."""
    if period is BillingPeriod.daily:
        return price
    return max(1, -(-price // days_in_month(day)))  # ceil: never promise a day too many


def format_money(amount: int) -> str:
    """'350.00', '-1234.05': the API's plain display form (locales format for people)."""
    sign = "-" if amount < 0 else ""
    whole, minor = divmod(abs(amount), 100)
    return f"{sign}{whole}.{minor:02d}"
