"""Promised payment (обещанный платёж): a temporary ledger credit that gives a debtor a few
days of service, reversed when it expires or settled early by a payment
(backend.billing.lifecycle.after_credit).

The credit is the debt plus the cost of the term, capped at a number of monthly fees. The fee
(if the provider sets one) is not posted up front: the reversal takes back the credit and the
fee together, so a customer who never uses the money is not charged twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import SYSTEM, Actor
from backend.billing import ledger, lifecycle, repository, rules
from backend.billing.action_schemas import (
    PromisedPaymentOut,
    PromisedPaymentTaken,
    PromisedPaymentTerms,
)
from backend.billing.errors import (
    BalanceSufficient,
    NoSubscription,
    PpActive,
    PpDebtTooLarge,
    PpDisabled,
    PpPreviousNotRepaid,
    PpSubscriptionSuspended,
    PpTooFrequent,
    PromisedPaymentRefused,
)
from backend.config import Settings
from backend.errors import AppError
from backend.models import (
    BillingPeriod,
    PromisedPayment,
    PromisedPaymentStatus,
    SubscriptionStatus,
    TransactionReason,
)

REFERENCE_KIND = "promised_payment"
WINDOW = timedelta(days=30)
REMIND_BEFORE = timedelta(hours=24)


@dataclass(frozen=True)
class Terms:
    amount: int
    fee: int
    debt: int
    daily_cost: int
    term_days: int
    expires_at: datetime
    balance: int
    currency: str


def _local_day(settings: Settings, now: datetime) -> date:
    return now.astimezone(ZoneInfo(settings.billing_timezone)).date()


def promised_amount(
    balance: int, daily_cost: int, term_days: int, monthly_fee: int, cap_months: int
) -> int:
    """The debt plus the term's cost, capped at `cap_months` monthly fees (a cap avoids free
    months)."""
    debt = max(0, -balance)
    return min(debt + daily_cost * term_days, cap_months * monthly_fee)


async def _compute(
    session: AsyncSession, settings: Settings, customer_id: int, now: datetime
) -> Terms:
    """The terms a customer gets now, or the refusal (raised) with its next step in `extra`."""
    if not settings.pp_enabled:
        raise PpDisabled()
    found = await repository.current_subscription(session, customer_id)
    if found is None:
        raise NoSubscription()
    sub, tariff = found
    if sub.status is SubscriptionStatus.suspended:
        raise PpSubscriptionSuspended()
    balance, currency = await _balance(session, settings, customer_id)

    active = await repository.active_promised_payment(session, customer_id)
    if active is not None:
        # A payment settles it once the balance can carry the reversal (lifecycle.after_credit).
        to_settle = active.amount + active.fee - balance - settings.block_threshold
        raise PpActive(
            promised_payment_id=active.id,
            expires_at=active.expires_at,
            amount_to_pay=max(0, to_settle),
        )

    # The unpaid debt comes first: it has a next step (pay) the limit does not.
    debt = max(0, -balance)
    if settings.pp_require_previous_repaid and debt > 0:
        last = await repository.latest_promised_payment(session, customer_id)
        if (
            last is not None
            and last.status is PromisedPaymentStatus.expired
            and await _debt_since_reversal(session, last)
        ):
            raise PpPreviousNotRepaid(
                f"the previous promised payment left a debt of {rules.format_money(debt)}; "
                "pay it first",
                amount_to_pay=debt,
            )

    recent = await repository.promised_payments_since(session, customer_id, now - WINDOW)
    limit = settings.pp_max_per_30_days
    if len(recent) >= limit:
        # Available again once the limit-th most recent one leaves the 30-day window.
        available_from = recent[limit - 1].created_at + WINDOW
        raise PpTooFrequent(
            f"available again from {available_from.isoformat()}",
            available_from=available_from,
        )

    day = _local_day(settings, now)
    period = tariff.billing_period
    monthly_fee = (
        tariff.price * rules.days_in_month(day) if period is BillingPeriod.daily else tariff.price
    )
    max_debt = settings.pp_max_debt_months * monthly_fee
    if debt > max_debt:
        to_pay = debt - max_debt
        raise PpDebtTooLarge(
            f"pay at least {rules.format_money(to_pay)} first", amount_to_pay=to_pay
        )

    daily_cost = rules.average_daily_cost(tariff.price, period, day) if tariff.price > 0 else 0
    term = settings.pp_term_days
    amount = promised_amount(balance, daily_cost, term, monthly_fee, settings.pp_cap_months)
    if amount <= 0 or balance >= daily_cost * term:
        raise BalanceSufficient()
    short = -settings.block_threshold - (balance + amount)
    if short > 0:
        # The capped credit would not lift the block: a promise that gives no service.
        raise PpDebtTooLarge(f"pay at least {rules.format_money(short)} first", amount_to_pay=short)
    return Terms(
        amount=amount,
        fee=settings.pp_fee,
        debt=debt,
        daily_cost=daily_cost,
        term_days=term,
        expires_at=now + timedelta(days=term),
        balance=balance,
        currency=currency,
    )


async def terms(
    session: AsyncSession, settings: Settings, customer_id: int, now: datetime
) -> PromisedPaymentTerms:
    """What a promised payment would give now; a refusal is an answer here, not an error."""
    try:
        t = await _compute(session, settings, customer_id, now)
    except (PromisedPaymentRefused, NoSubscription) as refusal:
        balance, currency = await _balance(session, settings, customer_id)
        return _refusal_terms(refusal, balance, currency)
    return PromisedPaymentTerms(
        allowed=True,
        amount=t.amount,
        fee=t.fee,
        total_to_repay=t.amount + t.fee,
        debt=t.debt,
        daily_cost=t.daily_cost,
        term_days=t.term_days,
        expires_at=t.expires_at,
        balance=t.balance,
        currency=t.currency,
    )


def _refusal_terms(refusal: AppError, balance: int, currency: str) -> PromisedPaymentTerms:
    extra = refusal.extra
    return PromisedPaymentTerms(
        allowed=False,
        reason=refusal.code,
        detail=refusal.detail,
        available_from=extra.get("available_from"),
        amount_to_pay=extra.get("amount_to_pay"),
        promised_payment_id=extra.get("promised_payment_id"),
        expires_at=extra.get("expires_at"),
        balance=balance,
        currency=currency,
    )


async def take(
    session: AsyncSession, settings: Settings, customer_id: int, now: datetime, actor: Actor
) -> PromisedPaymentTaken:
    """Grant the promised payment: the terms are computed again under the account lock (two
    taps at once give one credit), the credit is posted and a debt block lifts."""
    await repository.lock_account(session, customer_id)
    t = await _compute(session, settings, customer_id, now)
    pp = PromisedPayment(
        customer_id=customer_id,
        amount=t.amount,
        fee=t.fee,
        status=PromisedPaymentStatus.active,
        expires_at=t.expires_at,
        created_at=now,
    )
    session.add(pp)
    await session.flush()
    txn, _ = await ledger.post(
        session,
        customer_id=customer_id,
        amount=t.amount,
        reason=TransactionReason.promised_payment,
        reference_kind=REFERENCE_KIND,
        reference=f"{pp.id}:credit",
        description="promised payment",
        actor=actor,
    )
    restored = await lifecycle.restore_if_covered(
        session, settings, customer_id, now, txn.balance_after
    )
    await audit.record(
        session,
        "billing.promised_payment_granted",
        actor,
        "promised_payment",
        pp.id,
        customer_id=customer_id,
        amount=t.amount,
        fee=t.fee,
        expires_at=t.expires_at.isoformat(),
    )
    await outbox.enqueue(
        session,
        "promised_payment.granted",
        {
            "customer_id": customer_id,
            "promised_payment_id": pp.id,
            "amount": t.amount,
            "fee": t.fee,
            "expires_at": t.expires_at.isoformat(),
            "restored": bool(restored),
        },
        f"pp-granted:{pp.id}",
    )
    return PromisedPaymentTaken(
        promised_payment=PromisedPaymentOut.model_validate(pp),
        balance=txn.balance_after,
        restored_subscriptions=restored,
    )


async def expire_and_remind(
    session: AsyncSession, settings: Settings, day: date, now: datetime
) -> int:
    """Billing-run step (the worker's pass, `expire_due`, does the same every few minutes):
    remind once within 24 h of expiry, and reverse the credit of expired ones, as of `now`
    (the run's business time: a back-dated run expires what was due by its day). The run's
    blocking pass then blocks a customer left below the threshold. Returns reminders +
    expiries."""
    reminded = await _remind(session, now)
    expired = await _expire(session, settings, now)
    await session.flush()
    return reminded + len(expired)


async def expire_due(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """The worker's pass: reminders and expiries as of `now`, and the customers an expiry
    leaves below the block threshold are blocked at once (as the daily run would). Safe in
    several processes at once: the expiry re-reads each promised payment under the account
    lock, and the reminders skip rows another pass holds."""
    reminded = await _remind(session, now)
    expired = await _expire(session, settings, now)
    day = _local_day(settings, now)
    for customer_id, balance in expired:
        if balance < -settings.block_threshold:
            await _block_customer(session, customer_id, day, now)
    await session.flush()
    return reminded + len(expired)


async def _remind(session: AsyncSession, now: datetime) -> int:
    done = 0
    for due in await repository.promised_payments_to_remind(session, now, now + REMIND_BEFORE):
        due.reminded_at = now
        await outbox.enqueue(
            session,
            "promised_payment.expiring",
            {
                "customer_id": due.customer_id,
                "promised_payment_id": due.id,
                "amount": due.amount,
                "fee": due.fee,
                "expires_at": due.expires_at.isoformat(),
            },
            f"pp-expiring:{due.id}",
        )
        done += 1
    return done


async def _expire(
    session: AsyncSession, settings: Settings, now: datetime
) -> list[tuple[int, int]]:
    """Reverse every promised payment whose term ended by `now`; (customer id, balance after)
    of each one expired here."""
    expired: list[tuple[int, int]] = []
    for pp_id, customer_id in await repository.expired_promised_payments(session, now):
        await repository.lock_account(session, customer_id)  # lock order: account, then row
        pp = await repository.row_for_update(session, PromisedPayment, pp_id)
        if pp is None or pp.status is not PromisedPaymentStatus.active:
            continue  # settled by a payment, or expired by another pass, meanwhile
        await lifecycle.reverse_promised_payment(session, pp, PromisedPaymentStatus.expired, now)
        balance, _ = await _balance(session, settings, customer_id)
        await audit.record(
            session,
            "billing.promised_payment_expired",
            SYSTEM,
            "promised_payment",
            pp.id,
            customer_id=customer_id,
            reversed_amount=pp.amount + pp.fee,
            balance=balance,
        )
        await outbox.enqueue(
            session,
            "promised_payment.expired",
            {
                "customer_id": customer_id,
                "promised_payment_id": pp.id,
                "amount": pp.amount,
                "fee": pp.fee,
                "balance": balance,
            },
            f"pp-expired:{pp.id}",
        )
        expired.append((customer_id, balance))
    return expired


async def _block_customer(
    session: AsyncSession, customer_id: int, day: date, now: datetime
) -> None:
    """Block the customer's active subscriptions for debt, with the event (and dedup key) the
    daily run's blocking pass uses, so the same day never tells the customer twice."""
    for sub_id in await repository.block_active_subscriptions(session, customer_id, now):
        await outbox.enqueue(
            session,
            "subscription.blocked",
            {"customer_id": customer_id, "subscription_id": sub_id, "day": day.isoformat()},
            f"blocked:{sub_id}:{day.isoformat()}",
        )


async def _debt_since_reversal(session: AsyncSession, pp: PromisedPayment) -> bool:
    """The reversal left the balance below zero and it has not been at zero or above since."""
    reversal = await repository.transaction_by_reference(
        session, REFERENCE_KIND, f"{pp.id}:reversal"
    )
    if reversal is None or reversal.balance_after >= 0:
        return False
    return not await repository.balance_reached_zero_since(
        session, reversal.account_id, reversal.id
    )


async def _balance(session: AsyncSession, settings: Settings, customer_id: int) -> tuple[int, str]:
    """A customer without an account has nothing, in the provider's currency."""
    found = await repository.balance_and_currency(session, customer_id)
    return (0, settings.currency) if found is None else found
