"""Pure money arithmetic of billing: integer minor units only, no I/O.

A monthly fee charged day by day is split so that the month's daily shares add up exactly to
the fee: the share of day d in a month of n days is floor(fee*d/n) - floor(fee*(d-1)/n).

The charge rule (what a subscription is charged on a day, and under which ledger reference) is
written once: the table `_CHARGE_RULE` picks the case by billing period and charging mode, and
`_amount` is its arithmetic, written over integers and SQL terms alike. Evaluated on integers
it is `charge_for_day` and `charge_reference` (the billing run on SQLite, tariff changes, the
seed); rendered on SQL terms it is `charge_amount_sql` and `charge_reference_sql`, which the
set-based run on PostgreSQL interpolates. So the two paths cannot drift apart, and
tests/backend/billing/test_charge_rule_property.py evaluates both on random calendars."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import NamedTuple, TypeVar

from backend.models import BillingPeriod

CHARGING_MODES = ("daily_share", "period_start")
_REFERENCE_PREFIX = "sub:"


class Sql:
    """An integer SQL expression built with Python's operators, so that one formula written
    for integers renders as SQL too. `//` renders as SQL's `/`, which truncates toward zero on
    integers (PostgreSQL and SQLite alike): floor, for the rule's operands, which are never
    negative (prices, days of the month)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def _apply(self, operator: str, other: Sql | int) -> Sql:
        return Sql(f"({self.text} {operator} {other})")

    def __mul__(self, other: Sql | int) -> Sql:
        return self._apply("*", other)

    def __sub__(self, other: Sql | int) -> Sql:
        return self._apply("-", other)

    def __floordiv__(self, other: Sql | int) -> Sql:
        return self._apply("/", other)


# The rule's arithmetic runs on Python integers or on SQL terms, never a mix.
Operand = TypeVar("Operand", int, Sql)


class _Amount(Enum):
    price = "the price itself"
    day_share = "the day's share of the monthly fee"
    rest_of_month = "the shares of the day and the rest of its month"


class _Per(Enum):
    """What a charge's reference names: the posted reference is the period's charge, and the
    unique reference makes it once per subscription per that period."""

    day = "day"
    month = "month"


class _Charge(NamedTuple):
    amount: _Amount
    per: _Per


# The charge rule, by billing period and charging mode. In period-start mode a monthly fee
# has one reference per month, so the run charges it once, on the first day it finds the
# subscription chargeable that month: the whole fee on the 1st, and on day d (a subscription
# that starts, or is first chargeable, then) the rest of the month, prorated exactly as the
# daily shares of those days.
_CHARGE_RULE: dict[tuple[BillingPeriod, str], _Charge] = {
    (BillingPeriod.daily, "daily_share"): _Charge(_Amount.price, _Per.day),
    (BillingPeriod.daily, "period_start"): _Charge(_Amount.price, _Per.day),
    (BillingPeriod.monthly, "daily_share"): _Charge(_Amount.day_share, _Per.day),
    (BillingPeriod.monthly, "period_start"): _Charge(_Amount.rest_of_month, _Per.month),
}


def _rule(period: BillingPeriod, mode: str) -> _Charge:
    try:
        return _CHARGE_RULE[period, mode]
    except KeyError:
        raise ValueError(f"no charge rule for {period!s} tariffs in mode {mode!r}") from None


def _shares_through(fee: Operand, d: Operand, n: Operand) -> Operand:
    """The daily shares of days 1..d of an n-day month add up to floor(fee*d/n)."""
    return fee * d // n


def _amount(kind: _Amount, price: Operand, d: Operand, n: Operand) -> Operand:
    """The charge of day d of an n-day month, on integers or on SQL terms alike. The days
    before d are rounded down, so the fraction of a kopeck falls on the days charged and a
    month's parts never add up to more than the fee."""
    if kind is _Amount.price:
        return price
    before = _shares_through(price, d - 1, n)
    if kind is _Amount.day_share:
        return _shares_through(price, d, n) - before
    return price - before


def _period_key(per: _Per, day: date) -> str:
    return day.isoformat() if per is _Per.day else f"{day:%Y-%m}"


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
    return _amount(_Amount.day_share, monthly_fee, day.day, days_in_month(day))


def shares_between(monthly_fee: int, first: date, last: date) -> int:
    """Sum of the daily shares from `first` to `last` inclusive (any span, across months)."""
    if last < first:
        return 0
    total = 0
    cursor = first
    while cursor <= last:
        end = min(last, month_end(cursor))
        n = days_in_month(cursor)
        total += _shares_through(monthly_fee, end.day, n) - _shares_through(
            monthly_fee, cursor.day - 1, n
        )
        cursor = end + timedelta(days=1)
    return total


def rest_of_month(monthly_fee: int, day: date) -> int:
    """The daily shares from `day` to the end of its month: the fee minus the shares of the
    days before, fee - floor(fee*(d-1)/n). On the 1st that is the whole fee."""
    return _amount(_Amount.rest_of_month, monthly_fee, day.day, days_in_month(day))


def charge_for_day(price: int, period: BillingPeriod, day: date, charging_mode: str) -> int:
    """What a subscription is charged on `day` if its charge reference is not yet posted
    (`_CHARGE_RULE`): a daily tariff's price; a monthly fee's daily share, or in period-start
    mode the rest of the month (`rest_of_month`), once a month."""
    return _amount(_rule(period, charging_mode).amount, price, day.day, days_in_month(day))


def charge_reference(subscription_id: int, period: BillingPeriod, day: date, mode: str) -> str:
    """The ledger reference that makes a charge happen once per subscription per period."""
    return f"{_REFERENCE_PREFIX}{subscription_id}:{_period_key(_rule(period, mode).per, day)}"


@dataclass(frozen=True)
class SqlTerms:
    """What the SQL form of the rule is written over: a row's columns, and the day's values
    (by default the bind parameters of `charge_sql_params`; columns, for a batch of days)."""

    price: str = "price"
    period: str = "billing_period"
    subscription: str = "sid"
    d: str = ":d"
    n: str = ":n"
    day_key: str = ":day_key"
    month_key: str = ":month_key"


def charge_sql_params(day: date) -> dict[str, int | str]:
    """The bind parameters of `charge_amount_sql` and `charge_reference_sql` for `day`."""
    return {
        "d": day.day,
        "n": days_in_month(day),
        "day_key": _period_key(_Per.day, day),
        "month_key": _period_key(_Per.month, day),
    }


def charge_amount_sql(mode: str, terms: SqlTerms | None = None) -> str:
    """`charge_for_day` in `mode` as a SQL expression over a row's price and billing period
    (NULL for a billing period the rule does not know)."""
    terms = terms or SqlTerms()
    price, d, n = Sql(terms.price), Sql(terms.d), Sql(terms.n)
    return _sql_case(
        terms,
        {period: str(_amount(_rule(period, mode).amount, price, d, n)) for period in BillingPeriod},
    )


def charge_reference_sql(mode: str, terms: SqlTerms | None = None) -> str:
    """`charge_reference` in `mode` as a SQL expression over a row's subscription id and
    billing period."""
    terms = terms or SqlTerms()
    keys = {_Per.day: terms.day_key, _Per.month: terms.month_key}
    key = _sql_case(terms, {period: keys[_rule(period, mode).per] for period in BillingPeriod})
    return f"'{_REFERENCE_PREFIX}' || {terms.subscription} || ':' || {key}"


def _sql_case(terms: SqlTerms, by_period: dict[BillingPeriod, str]) -> str:
    branches = " ".join(
        f"WHEN {terms.period} = '{period.value}' THEN {value}"
        for period, value in by_period.items()
    )
    return f"CASE {branches} END"


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
