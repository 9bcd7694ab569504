"""Jobs of payments: reconciliation. A provider's notification can be lost (an outage here,
a dropped webhook, the sandbox's background delivery dying with its process), so the worker
asks the provider about every payment still pending after PAYMENT_RECONCILE_AFTER_MINUTES:
its API is the truth. Paid ones are credited (exactly once: service.credit under the row
lock and the unique ledger reference, racing the webhook or another worker harmlessly),
cancelled ones cancelled, and one pending past PAYMENT_PENDING_EXPIRE_HOURS is marked expired.
Payments no provider can be asked about (Telegram invoices never paid, a sandbox payment after
the provider changed) expire by age alone."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from backend.clock import utcnow
from backend.db import unit_of_work
from backend.logging import get_logger
from backend.models import PaymentStatus
from backend.payments import providers, repository, service
from backend.payments.errors import NotFoundAtProvider
from backend.payments.providers.base import ProviderState
from backend.periodic import run_every
from backend.state import Resources

log = get_logger("payments.tasks")

RECONCILE_BATCH = 100
RECONCILE_INTERVAL_S = 60.0


@dataclass(slots=True)
class ReconcileReport:
    checked: int = 0  # payments claimed and looked at
    credited: int = 0
    cancelled: int = 0
    expired: int = 0
    errors: int = 0  # provider unreachable and the like: looked at again next time

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def _provider_state(res: Resources, claim: repository.Claimed) -> ProviderState | None:
    """What the provider says, or None when there is no provider to ask."""
    settings = res.settings
    if (
        claim.provider_payment_id is None
        or claim.provider not in providers.REDIRECT
        or not providers.enabled(claim.provider, settings)
    ):
        return None
    async with unit_of_work(res.sessionmaker) as session:  # the sandbox reads its side here
        provider = providers.get_provider(claim.provider, settings, session)
        try:
            return await provider.fetch(claim.provider_payment_id)
        except NotFoundAtProvider:
            return None  # nobody can pay what the provider does not know: age decides


async def _reconcile_one(
    res: Resources, claim: repository.Claimed, now: datetime, report: ReconcileReport
) -> None:
    settings = res.settings
    # No transaction is open while the provider is asked (up to its HTTP timeout).
    state = await _provider_state(res, claim)
    abandoned = now - claim.created_at >= timedelta(hours=settings.payment_pending_expire_hours)
    async with unit_of_work(res.sessionmaker) as session:
        if state is not None and state.status is PaymentStatus.succeeded:
            outcome = await service.credit(
                session, settings, claim.id, amount=state.amount, currency=state.currency
            )
            report.credited += outcome.credited
        elif state is not None and state.status is PaymentStatus.cancelled:
            ack = await service.cancel(session, claim.id, reason=f"{claim.provider}_canceled")
            report.cancelled += ack == "cancelled"
        elif abandoned:
            ack = await service.expire(session, claim.id, reason="pending_too_long")
            report.expired += ack == "expired"


async def reconcile_pending(
    res: Resources, *, now: datetime | None = None, batch: int = RECONCILE_BATCH
) -> ReconcileReport:
    """One pass over the pending payments due for a look. Any number of workers may run it
    at once: each claims its own rows."""
    now = now or utcnow()
    not_after = now - timedelta(minutes=res.settings.payment_reconcile_after_minutes)
    report = ReconcileReport()
    while True:
        async with unit_of_work(res.sessionmaker) as session:
            claimed = await repository.claim_pending(
                session, now=now, not_after=not_after, limit=batch
            )
        report.checked += len(claimed)
        for claim in claimed:
            try:
                await _reconcile_one(res, claim, now, report)
            except Exception as exc:  # one payment's trouble must not stop the others
                report.errors += 1
                log.warning(
                    "payment reconciliation failed; retried later",
                    payment_id=claim.id,
                    provider=claim.provider,
                    error=f"{type(exc).__name__}: {str(exc)[:200]}",
                )
        # claimed rows are marked checked at `now`, so a pass ends
        if len(claimed) < batch:
            break
    if report.checked:
        log.info("payments reconciled", **report.as_dict())
    return report


async def run_payment_reconciler(res: Resources, stop: asyncio.Event) -> None:
    """Background role of the worker: reconcile every RECONCILE_INTERVAL_S. Outages of the
    database or a provider are logged and waited out; the next tick retries."""
    await run_every(
        stop,
        RECONCILE_INTERVAL_S,
        lambda: reconcile_pending(res),
        failed="payment reconciliation tick failed",
    )
