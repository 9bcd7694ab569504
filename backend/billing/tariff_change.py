"""Tariff change: a quote, then a confirmation that computes the quote again (a quote sent back
by a client is never trusted). Upgrades take effect at once with proration; downgrades and
same-price changes wait for the next period as one cancellable scheduled change, applied by
the billing run (`apply_due_changes`).

Proration keeps the month exact: whatever the charging mode, the customer pays the old
tariff's daily shares until yesterday and the new tariff's shares from today. What the billing
run has already charged and will still charge is taken into account, so only the remainder is
posted at confirmation (in daily-share mode that is today's difference; in period-start mode
the difference for the rest of the month)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import SYSTEM, Actor
from backend.billing import ledger, lifecycle, repository, rules
from backend.billing.action_schemas import (
    Effective,
    ScheduledChangeCancelled,
    TariffBrief,
    TariffChangeKind,
    TariffChangeQuote,
    TariffChangeResult,
)
from backend.billing.errors import ChangeNowNotAllowed as ChangeNowNotAllowed
from backend.billing.errors import (
    LockedDuringPromisedPayment,
    NewTariffNotFound,
    NoSubscription,
    SameTariff,
    SubscriptionBlocked,
    SubscriptionSuspended,
    TariffInactive,
    TariffNotAllowed,
    TooSoon,
)
from backend.billing.errors import NoPendingChange as NoPendingChange
from backend.billing.errors import PendingChangeExists as PendingChangeExists
from backend.config import Settings
from backend.models import (
    BillingPeriod,
    Subscription,
    SubscriptionStatus,
    Tariff,
    TransactionReason,
)

REFERENCE_KIND = "tariff_change"


# --- arithmetic (pure) ----------------------------------------------------------------------


def monthly_price(price: int, period: BillingPeriod, day: date) -> int:
    """The price of the month around `day`, to compare tariffs of different periods."""
    return price * rules.days_in_month(day) if period is BillingPeriod.daily else price


def cost_between(price: int, period: BillingPeriod, first: date, last: date) -> int:
    """What the days first..last inclusive cost at this tariff."""
    if last < first:
        return 0
    if period is BillingPeriod.daily:
        return price * ((last - first).days + 1)
    return rules.shares_between(price, first, last)


@dataclass(frozen=True)
class Proration:
    extra_cost: int  # the rest of the month at the new tariff minus at the old one
    charge_now: int  # signed: debited (>0) or credited back (<0) at confirmation


def proration(
    old_price: int,
    old_period: BillingPeriod,
    new_price: int,
    new_period: BillingPeriod,
    today: date,
    mode: str,
    *,
    ran_today: bool,
    charged_today: bool,
) -> Proration:
    """An immediate change on `today`. `ran_today`: today's billing run has already been past
    this subscription; `charged_today`: the old tariff's charge that covers today is posted
    (the day's charge, or the month's in period-start mode; a free tariff posts nothing). The
    result makes the month cost exactly the old shares until yesterday plus the new shares
    from today, together with the charges the billing run posts."""
    end = rules.month_end(today)
    target = cost_between(new_price, new_period, today, end)
    extra = target - cost_between(old_price, old_period, today, end)

    old_reference = rules.charge_reference(0, old_period, today, mode)
    paid = 0
    if charged_today:
        if old_period is BillingPeriod.monthly and mode == "period_start":
            paid = rules.shares_between(old_price, today, end)
        else:
            paid = rules.charge_for_day(old_price, old_period, today, mode)

    # What the billing run will still charge at the new tariff this month: it skips a day
    # whose charge reference is already posted (the month's, in period-start mode), and
    # posts each reference once (period-start: on the first day it reaches).
    future = 0
    posted = {old_reference} if charged_today else set()
    day = today + timedelta(days=1) if ran_today else today
    while day <= end:
        amount = rules.charge_for_day(new_price, new_period, day, mode)
        reference = rules.charge_reference(0, new_period, day, mode)
        if amount > 0 and reference not in posted:
            posted.add(reference)
            future += amount
        day += timedelta(days=1)
    return Proration(extra_cost=extra, charge_now=target - paid - future)


def change_kind(current: Tariff, target: Tariff, today: date) -> TariffChangeKind:
    old = monthly_price(current.price, current.billing_period, today)
    new = monthly_price(target.price, target.billing_period, today)
    if new > old:
        return "upgrade"
    if new < old:
        return "downgrade"
    return "same_price"


def _brief(tariff: Tariff, today: date) -> TariffBrief:
    return TariffBrief(
        id=tariff.id,
        name=tariff.name,
        price=tariff.price,
        billing_period=tariff.billing_period,
        currency=tariff.currency,
        monthly_price=monthly_price(tariff.price, tariff.billing_period, today),
    )


# --- rules ----------------------------------------------------------------------------------


def _transition_allowed(settings: Settings, from_id: int, to_id: int) -> bool:
    matrix = settings.tariff_transitions
    if not matrix:
        return True
    # A configured matrix is exhaustive: a tariff without a row offers no change.
    return to_id in matrix.get(str(from_id), [])


async def _check(
    session: AsyncSession,
    settings: Settings,
    sub: Subscription,
    current: Tariff,
    target: Tariff | None,
    today: date,
) -> Tariff:
    if target is None:
        raise NewTariffNotFound()
    if target.id == current.id:
        raise SameTariff()
    if not target.is_active:
        raise TariffInactive()
    if not _transition_allowed(settings, current.id, target.id) or (
        target.currency != current.currency
    ):
        raise TariffNotAllowed()
    if sub.status is SubscriptionStatus.blocked:
        balance = await repository.balance(session, sub.customer_id)
        raise SubscriptionBlocked(amount_to_pay=max(0, -balance))
    if sub.status is SubscriptionStatus.suspended:
        raise SubscriptionSuspended()
    if sub.scheduled_tariff_id is not None:
        raise PendingChangeExists(
            scheduled_tariff_id=sub.scheduled_tariff_id,
            scheduled_change_on=sub.scheduled_change_on,
        )
    if settings.tariff_locked_during_pp:
        pp = await repository.active_promised_payment(session, sub.customer_id)
        if pp is not None:
            raise LockedDuringPromisedPayment(promised_payment_expires_at=pp.expires_at)
    gap = settings.tariff_min_days_between_changes
    if gap > 0 and sub.last_tariff_change_on is not None:
        available_from = sub.last_tariff_change_on + timedelta(days=gap)
        if today < available_from:
            raise TooSoon(
                f"the tariff can change again from {available_from.isoformat()}",
                available_from=available_from,
            )
    return target


async def _build_quote(
    session: AsyncSession,
    settings: Settings,
    sub: Subscription,
    current: Tariff,
    target_id: int,
    today: date,
    effective: Effective | None,
) -> tuple[TariffChangeQuote, Tariff]:
    target = await _check(
        session, settings, sub, current, await repository.tariff_by_id(session, target_id), today
    )
    kind = change_kind(current, target, today)
    if effective is None:
        effective = "now" if kind == "upgrade" else "next_period"
    if effective == "now" and kind != "upgrade":
        raise ChangeNowNotAllowed()
    next_period_on = rules.next_month_start(today)
    extra = charge_now = 0
    if effective == "now":
        mode = settings.charging_mode
        old_reference = rules.charge_reference(sub.id, current.billing_period, today, mode)
        charged_today = (
            await repository.transaction_by_reference(session, "charge", old_reference)
        ) is not None
        result = proration(
            current.price,
            current.billing_period,
            target.price,
            target.billing_period,
            today,
            mode,
            ran_today=await repository.run_passed(session, today, sub.id),
            charged_today=charged_today,
        )
        extra, charge_now = result.extra_cost, result.charge_now
    fee = settings.tariff_change_fee
    quote = TariffChangeQuote(
        subscription_id=sub.id,
        current=_brief(current, today),
        target=_brief(target, today),
        kind=kind,
        effective=effective,
        effective_on=today if effective == "now" else next_period_on,
        next_period_on=next_period_on,
        can_choose=kind == "upgrade",
        days_remaining=(rules.month_end(today) - today).days + 1,
        proration=extra,
        charge_now=charge_now,
        fee=fee,
        total_now=charge_now + fee if effective == "now" else 0,
        new_monthly_price=monthly_price(target.price, target.billing_period, today),
        currency=current.currency,
    )
    return quote, target


# --- service --------------------------------------------------------------------------------


async def quote(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    tariff_id: int,
    today: date,
    effective: Effective | None = None,
) -> TariffChangeQuote:
    """What changing to `tariff_id` costs and when it takes effect; refusals raise."""
    found = await repository.current_subscription(session, customer_id)
    if found is None:
        raise NoSubscription()
    sub, current = found
    result, _ = await _build_quote(session, settings, sub, current, tariff_id, today, effective)
    return result


async def confirm(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    tariff_id: int,
    today: date,
    now: datetime,
    actor: Actor,
    effective: Effective | None = None,
) -> TariffChangeResult:
    """Compute the quote again under the account lock and apply it: an upgrade at once (with
    its proration and fee posted), anything else as the scheduled change."""
    sub, current = await _lock(session, customer_id)
    q, target = await _build_quote(session, settings, sub, current, tariff_id, today, effective)
    payload: dict[str, Any] = {
        "customer_id": customer_id,
        "subscription_id": sub.id,
        "from_tariff_id": current.id,
        "to_tariff_id": target.id,
        "tariff_name": target.name,
        "effective_on": q.effective_on.isoformat(),
    }
    charged = 0
    if q.effective == "now":
        reference = f"tariff-change:{sub.id}:{today.isoformat()}:{target.id}"
        if q.charge_now > 0:
            await ledger.post(
                session,
                customer_id=customer_id,
                amount=-q.charge_now,
                reason=TransactionReason.fee,
                reference_kind=REFERENCE_KIND,
                reference=reference,
                description=f"tariff change to {target.name}"[:255],
                actor=actor,
            )
            charged += q.charge_now
        elif q.charge_now < 0:
            # Days already paid at the old tariff that the new one charges again.
            await ledger.post(
                session,
                customer_id=customer_id,
                amount=-q.charge_now,
                reason=TransactionReason.refund,
                reference_kind=REFERENCE_KIND,
                reference=reference,
                description=f"tariff change to {target.name}"[:255],
                actor=actor,
            )
            await lifecycle.after_credit(session, settings, customer_id, -q.charge_now, now)
            charged += q.charge_now
        if q.fee > 0:
            await _post_fee(session, customer_id, sub.id, target, today, q.fee, actor)
            charged += q.fee
        sub.tariff_id = target.id
        sub.last_tariff_change_on = today
        await session.flush()
        await audit.record(
            session,
            "billing.tariff_changed",
            actor,
            "subscription",
            sub.id,
            customer_id=customer_id,
            from_tariff_id=current.id,
            to_tariff_id=target.id,
            proration=q.proration,
            charge_now=q.charge_now,
            fee=q.fee,
        )
        await outbox.enqueue(
            session,
            "tariff.changed",
            {**payload, "charged": charged},
            f"tariff-changed:{sub.id}:{today.isoformat()}:{target.id}",
        )
        status = "changed"
    else:
        sub.scheduled_tariff_id = target.id
        sub.scheduled_change_on = q.effective_on
        await session.flush()
        await audit.record(
            session,
            "billing.tariff_change_scheduled",
            actor,
            "subscription",
            sub.id,
            customer_id=customer_id,
            from_tariff_id=current.id,
            to_tariff_id=target.id,
            effective_on=q.effective_on.isoformat(),
            fee=q.fee,
        )
        await outbox.enqueue(
            session,
            "tariff.change_scheduled",
            payload,
            f"tariff-scheduled:{sub.id}:{now.isoformat()}",
        )
        status = "scheduled"
    return TariffChangeResult(
        status=status,
        quote=q,
        tariff_id=sub.tariff_id,
        scheduled_tariff_id=sub.scheduled_tariff_id,
        scheduled_change_on=sub.scheduled_change_on,
        charged=charged,
    )


async def cancel_scheduled(
    session: AsyncSession, customer_id: int, now: datetime, actor: Actor
) -> ScheduledChangeCancelled:
    """Drop the scheduled change (nothing was charged for it)."""
    sub, _ = await _lock(session, customer_id)
    if sub.scheduled_tariff_id is None or sub.scheduled_change_on is None:
        raise NoPendingChange()
    cancelled = ScheduledChangeCancelled(
        subscription_id=sub.id,
        cancelled_tariff_id=sub.scheduled_tariff_id,
        was_due_on=sub.scheduled_change_on,
    )
    sub.scheduled_tariff_id = None
    sub.scheduled_change_on = None
    await session.flush()
    await audit.record(
        session,
        "billing.tariff_change_cancelled",
        actor,
        "subscription",
        sub.id,
        customer_id=customer_id,
        to_tariff_id=cancelled.cancelled_tariff_id,
        was_due_on=cancelled.was_due_on.isoformat(),
    )
    await outbox.enqueue(
        session,
        "tariff.change_cancelled",
        {
            "customer_id": customer_id,
            "subscription_id": sub.id,
            "to_tariff_id": cancelled.cancelled_tariff_id,
        },
        f"tariff-cancelled:{sub.id}:{now.isoformat()}",
    )
    return cancelled


async def apply_due_changes(
    session: AsyncSession, settings: Settings, day: date, now: datetime
) -> int:
    """Billing-run step (before the charges, so the day is charged at the new tariff): switch
    every scheduled change due on or before `day`. Returns how many were applied."""
    applied = 0
    for sub_id, customer_id in await repository.due_tariff_changes(session, day):
        await repository.lock_account(session, customer_id)  # same lock order as customers
        sub = await repository.row_for_update(session, Subscription, sub_id)
        if sub is None or sub.scheduled_tariff_id is None or sub.scheduled_change_on is None:
            continue  # cancelled meanwhile
        if sub.scheduled_change_on > day:
            continue
        target = await repository.tariff_by_id(session, sub.scheduled_tariff_id)
        if target is None:
            continue
        effective_on = sub.scheduled_change_on
        from_id = sub.tariff_id
        if settings.tariff_change_fee > 0:
            await _post_fee(
                session, customer_id, sub.id, target, effective_on, settings.tariff_change_fee
            )
        sub.tariff_id = target.id
        sub.scheduled_tariff_id = None
        sub.scheduled_change_on = None
        sub.last_tariff_change_on = effective_on
        await session.flush()
        await audit.record(
            session,
            "billing.tariff_changed",
            SYSTEM,
            "subscription",
            sub.id,
            customer_id=customer_id,
            from_tariff_id=from_id,
            to_tariff_id=target.id,
            scheduled=True,
            fee=settings.tariff_change_fee,
        )
        await outbox.enqueue(
            session,
            "tariff.changed",
            {
                "customer_id": customer_id,
                "subscription_id": sub.id,
                "from_tariff_id": from_id,
                "to_tariff_id": target.id,
                "tariff_name": target.name,
                "effective_on": effective_on.isoformat(),
                "charged": settings.tariff_change_fee,
            },
            f"tariff-changed:{sub.id}:{effective_on.isoformat()}:{target.id}",
        )
        applied += 1
    return applied


async def _post_fee(
    session: AsyncSession,
    customer_id: int,
    sub_id: int,
    target: Tariff,
    day: date,
    fee: int,
    actor: Actor | None = None,
) -> None:
    await ledger.post(
        session,
        customer_id=customer_id,
        amount=-fee,
        reason=TransactionReason.fee,
        reference_kind=REFERENCE_KIND,
        reference=f"tariff-change-fee:{sub_id}:{day.isoformat()}:{target.id}",
        description=f"tariff change fee ({target.name})"[:255],
        actor=actor,
    )


async def _lock(session: AsyncSession, customer_id: int) -> tuple[Subscription, Tariff]:
    """The account lock first (the order every money path uses), then the subscription."""
    await repository.lock_account(session, customer_id)
    sub = await repository.current_subscription_for_update(session, customer_id)
    if sub is None:
        raise NoSubscription()
    tariff = await repository.tariff_by_id(session, sub.tariff_id)
    assert tariff is not None  # a foreign key
    return sub, tariff
