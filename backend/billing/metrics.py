"""Prometheus gauges of the billing run (docs/operations.md, "Billing run alerts").

They are read from `billing_runs` by every process that serves /metrics (the role
`backend.billing.tasks.run_billing_monitor`), so the API processes report the state of a run
that the worker did."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

LAST_FINISHED_DAY = Gauge(
    "billing_last_finished_day_timestamp_seconds",
    "The latest business day with a finished billing run (its midnight, UTC, as Unix time)",
    registry=None,
)
CATCHUP_REFUSED_DAYS = Gauge(
    "billing_catchup_refused_days",
    "Missed days the latest billing run refused to catch up (over BILLING_MAX_CATCHUP_DAYS)",
    registry=None,
)
CAUGHT_UP_DAYS = Gauge(
    "billing_caught_up_days",
    "Missed days the latest billing run caught up before its own day",
    registry=None,
)

GAUGES = (LAST_FINISHED_DAY, CATCHUP_REFUSED_DAYS, CAUGHT_UP_DAYS)


def register(registry: CollectorRegistry) -> None:
    """Expose the billing gauges on an app's registry (one process may build several apps)."""
    for gauge in GAUGES:
        registry.register(gauge)
