"""Voluntary suspension (заморозка, vacation): the subscription is `suspended` from start_on to
end_on inclusive, so the billing run charges no tariff fee; the first free days of the year
cost nothing, later days a daily fee. It resumes by itself after end_on, or at once when the
customer unfreezes (`resume_now`).

Free days are counted per calendar year, against the year in which a pause starts; a pause
resumed early gives its unused days back (its end_on becomes the resume day)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import SYSTEM, Actor
from backend.billing import ledger, lifecycle, repository
from backend.billing.action_schemas import SuspensionList, SuspensionOut, SuspensionQuote
from backend.billing.errors import (
    FreezeInPast,
    FreezeInvalidDates,
    FreezeNegativeBalance,
    FreezeOverlaps,
    FreezeStartTooFar,
    FreezeTooLong,
    FreezeTooShort,
    NoSubscription,
    SubscriptionBlocked,
)
from backend.billing.errors import FreezeNotActive as FreezeNotActive
from backend.billing.errors import FreezeNotCancellable as FreezeNotCancellable
from backend.billing.errors import SuspensionNotFound as SuspensionNotFound
from backend.config import Settings
from backend.models import (
    Subscription,
    SubscriptionStatus,
    Suspension,
    SuspensionStatus,
    TransactionReason,
)

REFERENCE_KIND = "freeze"
ENDING_NOTICE_DAYS = 3
_ACTIVE = (SuspensionStatus.active,)
_SCHEDULED = (SuspensionStatus.scheduled,)
_OPEN = (SuspensionStatus.scheduled, SuspensionStatus.active)
_COUNTED = (SuspensionStatus.scheduled, SuspensionStatus.active, SuspensionStatus.finished)


def suspension_out(s: Suspension) -> SuspensionOut:
    return SuspensionOut.model_validate(s)


async def _build_quote(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    start_on: date,
    end_on: date,
    today: date,
) -> tuple[SuspensionQuote, Subscription]:
    if end_on < start_on:
        raise FreezeInvalidDates()
    if start_on < today:
        raise FreezeInPast()
    ahead = settings.freeze_max_start_ahead_days
    if start_on > today + timedelta(days=ahead):
        raise FreezeStartTooFar(
            f"a pause can be booked at most {ahead} days ahead",
            latest_start_on=today + timedelta(days=ahead),
        )
    days = (end_on - start_on).days + 1
    if days < settings.freeze_min_days:
        raise FreezeTooShort(
            f"a pause lasts at least {settings.freeze_min_days} days",
            min_days=settings.freeze_min_days,
        )
    if days > settings.freeze_max_days:
        raise FreezeTooLong(
            f"a pause lasts at most {settings.freeze_max_days} days",
            max_days=settings.freeze_max_days,
        )
    found = await repository.current_subscription(session, customer_id)
    if found is None:
        raise NoSubscription()
    sub, tariff = found
    balance = await repository.balance(session, customer_id)
    if sub.status is SubscriptionStatus.blocked:
        raise SubscriptionBlocked(amount_to_pay=max(0, -balance))
    if settings.freeze_requires_non_negative_balance and balance < 0:
        raise FreezeNegativeBalance(amount_to_pay=-balance)
    clash = await repository.overlapping_suspension(session, customer_id, start_on, end_on, _OPEN)
    if clash is not None:
        raise FreezeOverlaps(
            f"another pause ({clash.start_on.isoformat()} to {clash.end_on.isoformat()}) "
            "overlaps these dates",
            suspension_id=clash.id,
        )
    left = await free_days_left(session, settings, customer_id, start_on.year)
    free = min(days, left)
    fee = settings.freeze_daily_fee
    quote = SuspensionQuote(
        start_on=start_on,
        end_on=end_on,
        resume_on=end_on + timedelta(days=1),
        days=days,
        free_days=free,
        paid_days=days - free,
        daily_fee=fee,
        fee_total=(days - free) * fee,
        free_days_left=left,
        starts_now=start_on == today,
        currency=tariff.currency,
    )
    return quote, sub


async def free_days_left(
    session: AsyncSession, settings: Settings, customer_id: int, year: int
) -> int:
    spans = await repository.suspension_spans(session, customer_id, year, _COUNTED)
    used = sum((end - start).days + 1 for start, end in spans)
    return max(0, settings.freeze_free_days_per_year - used)


async def quote(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    start_on: date,
    end_on: date,
    today: date,
) -> SuspensionQuote:
    """Days, free days and the fee of a pause from start_on to end_on; refusals raise."""
    result, _ = await _build_quote(session, settings, customer_id, start_on, end_on, today)
    return result


async def create(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    start_on: date,
    end_on: date,
    today: date,
    now: datetime,
    actor: Actor,
) -> SuspensionOut:
    """Book the pause (the quote is computed again under the account lock); one that starts
    today suspends the subscription at once."""
    await repository.lock_account(session, customer_id)
    q, sub = await _build_quote(session, settings, customer_id, start_on, end_on, today)
    sub = await _lock_subscription(session, sub.id)
    suspension = Suspension(
        customer_id=customer_id,
        subscription_id=sub.id,
        start_on=start_on,
        end_on=end_on,
        status=SuspensionStatus.scheduled,
        daily_fee=q.daily_fee,
        free_days=q.free_days,
    )
    session.add(suspension)
    await session.flush()
    payload = _payload(suspension)
    await audit.record(
        session,
        "billing.suspension_scheduled",
        actor,
        "suspension",
        suspension.id,
        customer_id=customer_id,
        start_on=start_on.isoformat(),
        end_on=end_on.isoformat(),
        free_days=q.free_days,
        daily_fee=q.daily_fee,
    )
    await outbox.enqueue(
        session,
        "suspension.scheduled",
        {**payload, "fee_total": q.fee_total},
        f"suspension-scheduled:{suspension.id}",
    )
    if start_on == today:
        await _start(session, suspension, sub, actor)
    await session.flush()
    return suspension_out(suspension)


async def cancel(
    session: AsyncSession, customer_id: int, suspension_id: int, actor: Actor
) -> SuspensionOut:
    """Cancel a scheduled pause (an active one is ended with `resume_now`)."""
    await repository.lock_account(session, customer_id)
    suspension = await _own_for_update(session, customer_id, suspension_id)
    if suspension.status is not SuspensionStatus.scheduled:
        raise FreezeNotCancellable()
    suspension.status = SuspensionStatus.cancelled
    await session.flush()
    await audit.record(
        session,
        "billing.suspension_cancelled",
        actor,
        "suspension",
        suspension.id,
        customer_id=customer_id,
    )
    await outbox.enqueue(
        session,
        "suspension.cancelled",
        _payload(suspension),
        f"suspension-cancelled:{suspension.id}",
    )
    return suspension_out(suspension)


async def resume_now(
    session: AsyncSession,
    customer_id: int,
    suspension_id: int,
    today: date,
    now: datetime,
    actor: Actor,
) -> SuspensionOut:
    """Self-unfreeze: the pause ends today and the service is back at once. Unused days no
    longer count against the year's free days."""
    await repository.lock_account(session, customer_id)
    suspension = await _own_for_update(session, customer_id, suspension_id)
    if suspension.status is not SuspensionStatus.active:
        raise FreezeNotActive()
    suspension.status = SuspensionStatus.finished
    suspension.resumed_at = now
    suspension.end_on = min(suspension.end_on, max(suspension.start_on, today))
    sub = await _lock_subscription(session, suspension.subscription_id)
    if sub.status is SubscriptionStatus.suspended:
        sub.status = SubscriptionStatus.active
    await session.flush()
    await audit.record(
        session,
        "billing.suspension_resumed",
        actor,
        "suspension",
        suspension.id,
        customer_id=customer_id,
        end_on=suspension.end_on.isoformat(),
    )
    await outbox.enqueue(
        session,
        "suspension.ended",
        {**_payload(suspension), "resumed_early": True},
        f"suspension-ended:{suspension.id}",
    )
    return suspension_out(suspension)


async def list_for_customer(
    session: AsyncSession, settings: Settings, customer_id: int, today: date
) -> SuspensionList:
    items = await repository.suspensions_for_customer(session, customer_id, limit=100)
    return SuspensionList(
        items=[suspension_out(s) for s in items],
        free_days_left=await free_days_left(session, settings, customer_id, today.year),
    )


async def process_day(session: AsyncSession, settings: Settings, day: date, now: datetime) -> int:
    """Billing-run step, before the charges: end the pauses that are over (before starting
    new ones, so back-to-back pauses keep the subscription suspended), start the ones due,
    charge the day's fee for paid days and announce endings 3 days ahead. Idempotent.
    Returns how many things it did."""
    done = 0
    for sid, customer_id in await repository.suspension_ids(session, _ACTIVE, ends_before=day):
        await repository.lock_account(session, customer_id)
        s = await repository.row_for_update(session, Suspension, sid)
        if s is None or s.status is not SuspensionStatus.active or s.end_on >= day:
            continue
        s.status = SuspensionStatus.finished
        sub = await _lock_subscription(session, s.subscription_id)
        if sub.status is SubscriptionStatus.suspended:
            sub.status = SubscriptionStatus.active
        elif sub.status is SubscriptionStatus.blocked:
            # Blocked for debt during the pause: the service comes back only if it is covered.
            await lifecycle.restore_if_covered(session, settings, customer_id, now)
        await audit.record(
            session, "billing.suspension_ended", SYSTEM, "suspension", s.id, customer_id=customer_id
        )
        await outbox.enqueue(
            session,
            "suspension.ended",
            {**_payload(s), "resumed_early": False},
            f"suspension-ended:{s.id}",
        )
        done += 1

    for sid, customer_id in await repository.suspension_ids(session, _SCHEDULED, starts_by=day):
        await repository.lock_account(session, customer_id)
        s = await repository.row_for_update(session, Suspension, sid)
        if s is None or s.status is not SuspensionStatus.scheduled or s.start_on > day:
            continue
        if s.end_on < day:
            # Wholly missed (the runs did not happen): nothing to suspend any more.
            s.status = SuspensionStatus.finished
        else:
            await _start(session, s, await _lock_subscription(session, s.subscription_id), SYSTEM)
        done += 1

    for s in await repository.suspensions_active_on(session, day):
        if s.daily_fee > 0 and (day - s.start_on).days >= s.free_days:
            _, created = await ledger.post(
                session,
                customer_id=s.customer_id,
                amount=-s.daily_fee,
                reason=TransactionReason.fee,
                reference_kind=REFERENCE_KIND,
                reference=f"freeze:{s.id}:{day.isoformat()}",
                description="pause fee",
            )
            done += int(created)
        if (s.end_on - day).days <= ENDING_NOTICE_DAYS:
            done += int(
                await outbox.enqueue(
                    session,
                    "suspension.ending",
                    {**_payload(s), "resume_on": (s.end_on + timedelta(days=1)).isoformat()},
                    f"suspension-ending:{s.id}",
                )
            )
    await session.flush()
    return done


async def _start(
    session: AsyncSession, suspension: Suspension, sub: Subscription, actor: Actor
) -> None:
    suspension.status = SuspensionStatus.active
    # A subscription blocked meanwhile stays blocked: the pause only stops the charges.
    if sub.status is SubscriptionStatus.active:
        sub.status = SubscriptionStatus.suspended
    await audit.record(
        session,
        "billing.suspension_started",
        actor,
        "suspension",
        suspension.id,
        customer_id=suspension.customer_id,
    )
    await outbox.enqueue(
        session,
        "suspension.started",
        _payload(suspension),
        f"suspension-started:{suspension.id}",
    )


def _payload(s: Suspension) -> dict[str, Any]:
    return {
        "customer_id": s.customer_id,
        "suspension_id": s.id,
        "subscription_id": s.subscription_id,
        "start_on": s.start_on.isoformat(),
        "end_on": s.end_on.isoformat(),
    }


# --- locked rows (the account lock is taken first) ------------------------------------------


async def _own_for_update(
    session: AsyncSession, customer_id: int, suspension_id: int
) -> Suspension:
    found = await repository.own_suspension_for_update(session, customer_id, suspension_id)
    if found is None:
        raise SuspensionNotFound()  # someone else's pause looks the same as none
    return found


async def _lock_subscription(session: AsyncSession, subscription_id: int) -> Subscription:
    sub = await repository.row_for_update(session, Subscription, subscription_id)
    assert sub is not None  # a foreign key
    return sub
