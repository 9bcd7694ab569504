"""The clock: "now" in UTC and the provider's business day. A low-level module (it imports
only the settings) so that the dialogs, the documents and the services can ask for today
without importing the billing scheduler.

The provider's day is the calendar day in `BILLING_TIMEZONE`: the day the daily charge is for,
the day a promised payment or a freeze is counted from, the date on documents."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from backend.config import Settings


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.billing_timezone)


def business_today(settings: Settings) -> date:
    return datetime.now(local_zone(settings)).date()


def business_now(settings: Settings, day: date, wall: datetime | None = None) -> datetime:
    """The clock of the run of `day`: the wall clock while `day` is today (or later), the
    day's last instant (local) for a day that is over, so a back-dated run expires and starts
    what was due by that day and nothing later."""
    wall = wall or utcnow()
    next_midnight = datetime.combine(day + timedelta(days=1), clock_time.min, local_zone(settings))
    end_of_day = next_midnight.astimezone(UTC) - timedelta(microseconds=1)
    return min(wall, end_of_day)
