"""Billing actions a customer takes on their own account (tariff change, promised payment,
pause), the same actions by staff on a customer's behalf, and admin money adjustments.

Every action is a quote, then a confirmation that computes the quote again. A refusal is a
409 with `error` (a code the bot and the widget phrase, `error-<code>` in the locales),
`detail`, and machine-readable next steps (`available_from`, `amount_to_pay` ...)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from fastapi.responses import JSONResponse

from backend import idempotency
from backend.billing import adjustments, promised, repository, suspensions, tariff_change
from backend.billing.action_schemas import (
    AdjustmentIn,
    AdjustmentOut,
    PromisedPaymentTaken,
    PromisedPaymentTerms,
    ScheduledChangeCancelled,
    SuspensionIn,
    SuspensionList,
    SuspensionOut,
    SuspensionQuote,
    TariffChangeIn,
    TariffChangeQuote,
    TariffChangeResult,
)
from backend.billing.errors import (
    BalanceSufficient,
    ChangeNowNotAllowed,
    FreezeInPast,
    FreezeInvalidDates,
    FreezeNegativeBalance,
    FreezeNotActive,
    FreezeNotCancellable,
    FreezeOverlaps,
    FreezeStartTooFar,
    FreezeTooLong,
    FreezeTooShort,
    LockedDuringPromisedPayment,
    NewTariffNotFound,
    NoPendingChange,
    NoSubscription,
    PendingChangeExists,
    PpActive,
    PpDebtTooLarge,
    PpDisabled,
    PpPreviousNotRepaid,
    PpSubscriptionSuspended,
    PpTooFrequent,
    SameTariff,
    SubscriptionBlocked,
    SubscriptionSuspended,
    SuspensionNotFound,
    TariffInactive,
    TariffNotAllowed,
    TooSoon,
)
from backend.clock import business_today, utcnow
from backend.customers.errors import CustomerNotFound
from backend.deps import (
    CurrentAdmin,
    CurrentCustomer,
    CurrentStaff,
    SessionDep,
    SettingsDep,
    actor_of,
)
from backend.errors import AppError, ValidationFailed, refusals
from backend.idempotency import (
    IdempotencyKeyDep,
    IdempotencyKeyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
)

router = APIRouter(tags=["billing actions"])

CustomerId = Annotated[int, Path(ge=1, le=2**62)]
SuspensionId = Annotated[int, Path(ge=1, le=2**62)]

# What each action refuses (its service raises these); the staff routes add CustomerNotFound.
TARIFF_CHANGE_REFUSALS: tuple[type[AppError], ...] = (
    NewTariffNotFound,
    NoSubscription,
    SameTariff,
    TariffInactive,
    TariffNotAllowed,
    TooSoon,
    LockedDuringPromisedPayment,
    SubscriptionBlocked,
    SubscriptionSuspended,
    PendingChangeExists,
    ChangeNowNotAllowed,
)
CANCEL_CHANGE_REFUSALS: tuple[type[AppError], ...] = (NoSubscription, NoPendingChange)
PROMISED_PAYMENT_REFUSALS: tuple[type[AppError], ...] = (
    NoSubscription,
    PpDisabled,
    PpSubscriptionSuspended,
    PpActive,
    PpTooFrequent,
    PpPreviousNotRepaid,
    PpDebtTooLarge,
    BalanceSufficient,
)
PAUSE_REFUSALS: tuple[type[AppError], ...] = (
    NoSubscription,
    FreezeInvalidDates,
    FreezeInPast,
    FreezeStartTooFar,
    FreezeTooShort,
    FreezeTooLong,
    FreezeOverlaps,
    FreezeNegativeBalance,
    SubscriptionBlocked,
)
CANCEL_PAUSE_REFUSALS: tuple[type[AppError], ...] = (SuspensionNotFound, FreezeNotCancellable)
RESUME_REFUSALS: tuple[type[AppError], ...] = (SuspensionNotFound, FreezeNotActive)


def _own_id(principal: CurrentCustomer) -> int:
    assert principal.customer_id is not None  # guaranteed by CurrentCustomer
    return principal.customer_id


async def _existing(session: SessionDep, customer_id: int) -> int:
    if not await repository.account_exists(session, customer_id):
        raise CustomerNotFound()
    return customer_id


# --- tariff change --------------------------------------------------------------------------


@router.post("/billing/tariff-change/quote", responses=refusals(*TARIFF_CHANGE_REFUSALS))
async def quote_tariff_change(
    data: TariffChangeIn, principal: CurrentCustomer, session: SessionDep, settings: SettingsDep
) -> TariffChangeQuote:
    """What a change to `tariff_id` costs and when it takes effect: an upgrade now (with the
    proration for the rest of the month), a downgrade or a same-price change from the next
    period. A refusal carries its next step: `available_from` for too_soon, `amount_to_pay`
    for subscription_blocked."""
    return await tariff_change.quote(
        session,
        settings,
        _own_id(principal),
        data.tariff_id,
        business_today(settings),
        data.effective,
    )


@router.post("/billing/tariff-change", responses=refusals(*TARIFF_CHANGE_REFUSALS))
async def confirm_tariff_change(
    data: TariffChangeIn, principal: CurrentCustomer, session: SessionDep, settings: SettingsDep
) -> TariffChangeResult:
    """Confirm the change; the quote is computed again here (with the same refusals)."""
    return await tariff_change.confirm(
        session,
        settings,
        _own_id(principal),
        data.tariff_id,
        business_today(settings),
        utcnow(),
        actor_of(principal),
        data.effective,
    )


@router.delete("/billing/tariff-change", responses=refusals(*CANCEL_CHANGE_REFUSALS))
async def cancel_tariff_change(
    principal: CurrentCustomer, session: SessionDep
) -> ScheduledChangeCancelled:
    """Cancel the scheduled change."""
    return await tariff_change.cancel_scheduled(
        session, _own_id(principal), utcnow(), actor_of(principal)
    )


# --- promised payment -----------------------------------------------------------------------


@router.get("/billing/promised-payment")
async def promised_payment_terms(
    principal: CurrentCustomer, session: SessionDep, settings: SettingsDep
) -> PromisedPaymentTerms:
    """The promised payment on offer now, or `allowed: false` with the `reason` and the next
    step (`available_from`, `amount_to_pay`)."""
    return await promised.terms(session, settings, _own_id(principal), utcnow())


@router.post(
    "/billing/promised-payment",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(*PROMISED_PAYMENT_REFUSALS),
)
async def take_promised_payment(
    principal: CurrentCustomer, session: SessionDep, settings: SettingsDep
) -> PromisedPaymentTaken:
    """Take the promised payment: the credit is posted and a debt block lifts. The refusals are
    those `GET /billing/promised-payment` answers with as `reason`."""
    return await promised.take(session, settings, _own_id(principal), utcnow(), actor_of(principal))


# --- suspension -----------------------------------------------------------------------------


@router.post("/billing/suspensions/quote", responses=refusals(*PAUSE_REFUSALS))
async def quote_suspension(
    data: SuspensionIn, principal: CurrentCustomer, session: SessionDep, settings: SettingsDep
) -> SuspensionQuote:
    """Days, free days and the fee of a pause."""
    return await suspensions.quote(
        session, settings, _own_id(principal), data.start_on, data.end_on, business_today(settings)
    )


@router.post(
    "/billing/suspensions",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(*PAUSE_REFUSALS),
)
async def create_suspension(
    data: SuspensionIn, principal: CurrentCustomer, session: SessionDep, settings: SettingsDep
) -> SuspensionOut:
    """Book a pause (it starts at once when `start_on` is today)."""
    return await suspensions.create(
        session,
        settings,
        _own_id(principal),
        data.start_on,
        data.end_on,
        business_today(settings),
        utcnow(),
        actor_of(principal),
    )


@router.get("/billing/suspensions")
async def list_suspensions(
    principal: CurrentCustomer, session: SessionDep, settings: SettingsDep
) -> SuspensionList:
    """The customer's pauses, latest first, and the free days left this year."""
    return await suspensions.list_for_customer(
        session, settings, _own_id(principal), business_today(settings)
    )


@router.delete("/billing/suspensions/{suspension_id}", responses=refusals(*CANCEL_PAUSE_REFUSALS))
async def cancel_suspension(
    suspension_id: SuspensionId, principal: CurrentCustomer, session: SessionDep
) -> SuspensionOut:
    """Cancel a scheduled pause (an active one is resumed instead)."""
    return await suspensions.cancel(session, _own_id(principal), suspension_id, actor_of(principal))


@router.post("/billing/suspensions/{suspension_id}/resume", responses=refusals(*RESUME_REFUSALS))
async def resume_suspension(
    suspension_id: SuspensionId,
    principal: CurrentCustomer,
    session: SessionDep,
    settings: SettingsDep,
) -> SuspensionOut:
    """Unfreeze now: the pause ends today and the service is back at once."""
    return await suspensions.resume_now(
        session,
        _own_id(principal),
        suspension_id,
        business_today(settings),
        utcnow(),
        actor_of(principal),
    )


# --- staff on a customer's behalf -----------------------------------------------------------


@router.post(
    "/customers/{customer_id}/tariff-change/quote",
    responses=refusals(CustomerNotFound, *TARIFF_CHANGE_REFUSALS),
)
async def staff_quote_tariff_change(
    customer_id: CustomerId,
    data: TariffChangeIn,
    principal: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
) -> TariffChangeQuote:
    """The customer's tariff-change quote (as `POST /billing/tariff-change/quote`)."""
    return await tariff_change.quote(
        session,
        settings,
        await _existing(session, customer_id),
        data.tariff_id,
        business_today(settings),
        data.effective,
    )


@router.post(
    "/customers/{customer_id}/tariff-change",
    responses=refusals(CustomerNotFound, *TARIFF_CHANGE_REFUSALS),
)
async def staff_confirm_tariff_change(
    customer_id: CustomerId,
    data: TariffChangeIn,
    principal: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
) -> TariffChangeResult:
    return await tariff_change.confirm(
        session,
        settings,
        await _existing(session, customer_id),
        data.tariff_id,
        business_today(settings),
        utcnow(),
        actor_of(principal),
        data.effective,
    )


@router.delete(
    "/customers/{customer_id}/tariff-change",
    responses=refusals(CustomerNotFound, *CANCEL_CHANGE_REFUSALS),
)
async def staff_cancel_tariff_change(
    customer_id: CustomerId, principal: CurrentStaff, session: SessionDep
) -> ScheduledChangeCancelled:
    return await tariff_change.cancel_scheduled(
        session, await _existing(session, customer_id), utcnow(), actor_of(principal)
    )


@router.get("/customers/{customer_id}/promised-payment", responses=refusals(CustomerNotFound))
async def staff_promised_payment_terms(
    customer_id: CustomerId, principal: CurrentStaff, session: SessionDep, settings: SettingsDep
) -> PromisedPaymentTerms:
    return await promised.terms(session, settings, await _existing(session, customer_id), utcnow())


@router.post(
    "/customers/{customer_id}/promised-payment",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(CustomerNotFound, *PROMISED_PAYMENT_REFUSALS),
)
async def staff_take_promised_payment(
    customer_id: CustomerId, principal: CurrentStaff, session: SessionDep, settings: SettingsDep
) -> PromisedPaymentTaken:
    return await promised.take(
        session, settings, await _existing(session, customer_id), utcnow(), actor_of(principal)
    )


@router.post(
    "/customers/{customer_id}/suspensions/quote",
    responses=refusals(CustomerNotFound, *PAUSE_REFUSALS),
)
async def staff_quote_suspension(
    customer_id: CustomerId,
    data: SuspensionIn,
    principal: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
) -> SuspensionQuote:
    return await suspensions.quote(
        session,
        settings,
        await _existing(session, customer_id),
        data.start_on,
        data.end_on,
        business_today(settings),
    )


@router.post(
    "/customers/{customer_id}/suspensions",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(CustomerNotFound, *PAUSE_REFUSALS),
)
async def staff_create_suspension(
    customer_id: CustomerId,
    data: SuspensionIn,
    principal: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
) -> SuspensionOut:
    return await suspensions.create(
        session,
        settings,
        await _existing(session, customer_id),
        data.start_on,
        data.end_on,
        business_today(settings),
        utcnow(),
        actor_of(principal),
    )


@router.get("/customers/{customer_id}/suspensions", responses=refusals(CustomerNotFound))
async def staff_list_suspensions(
    customer_id: CustomerId, principal: CurrentStaff, session: SessionDep, settings: SettingsDep
) -> SuspensionList:
    return await suspensions.list_for_customer(
        session, settings, await _existing(session, customer_id), business_today(settings)
    )


@router.delete(
    "/customers/{customer_id}/suspensions/{suspension_id}",
    responses=refusals(CustomerNotFound, *CANCEL_PAUSE_REFUSALS),
)
async def staff_cancel_suspension(
    customer_id: CustomerId,
    suspension_id: SuspensionId,
    principal: CurrentStaff,
    session: SessionDep,
) -> SuspensionOut:
    return await suspensions.cancel(
        session, await _existing(session, customer_id), suspension_id, actor_of(principal)
    )


@router.post(
    "/customers/{customer_id}/suspensions/{suspension_id}/resume",
    responses=refusals(CustomerNotFound, *RESUME_REFUSALS),
)
async def staff_resume_suspension(
    customer_id: CustomerId,
    suspension_id: SuspensionId,
    principal: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
) -> SuspensionOut:
    return await suspensions.resume_now(
        session,
        await _existing(session, customer_id),
        suspension_id,
        business_today(settings),
        utcnow(),
        actor_of(principal),
    )


# --- admin adjustments ----------------------------------------------------------------------


@router.post(
    "/customers/{customer_id}/adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=AdjustmentOut,
    responses=refusals(
        CustomerNotFound,
        IdempotencyKeyInProgress,
        ValidationFailed,
        IdempotencyKeyRequired,
        IdempotencyKeyInvalid,
        IdempotencyKeyReused,
    ),
)
async def create_adjustment(
    customer_id: CustomerId,
    data: AdjustmentIn,
    principal: CurrentAdmin,
    key: IdempotencyKeyDep,
    session: SessionDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Correct a customer's balance by a signed amount (minor units, at most 1,000,000.00 either
    way) with a reason; admins only. Requires `Idempotency-Key`: a repeat with the same key and
    body answers with the first result (header `Idempotent-Replayed: true`) and posts nothing;
    the same key with another body is refused with `idempotency_key_reused`."""

    async def action() -> AdjustmentOut:
        return await adjustments.adjust(
            session, settings, customer_id, data, key, utcnow(), actor_of(principal)
        )

    return await idempotency.run(
        session,
        user_id=principal.user_id,
        key=key,
        endpoint=f"billing.adjustments:{customer_id}",
        request=data,
        action=action,
        status_code=status.HTTP_201_CREATED,
    )
