"""The loop of the background roles that do one thing every so often (the billing scheduler,
promised-payment expiry, payment reconciliation, the ledger check, the gauges of /metrics)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from backend.logging import get_logger

log = get_logger("periodic")


async def run_every(
    stop: asyncio.Event,
    interval_s: float,
    tick: Callable[[], Awaitable[object]],
    *,
    failed: str,
    quiet: bool = False,
) -> None:
    """Call `tick` now and then every `interval_s` until `stop` is set. A tick that fails
    (PostgreSQL or Redis away, a provider down) is logged as `failed` and the next one retries:
    a role outlives outages. `quiet` logs at WARNING instead of ERROR (gauges keep their
    last values)."""
    while not stop.is_set():
        try:
            await tick()
        except Exception:
            if quiet:
                log.warning(failed, exc_info=True)
            else:
                log.exception(failed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
