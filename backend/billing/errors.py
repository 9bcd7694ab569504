"""Errors of billing: the read side and the tariff catalogue, the ledger and the billing run, and
the refusals of the customer's actions (tariff change, promised payment, pause). A refusal is a
409 whose code the bot and the widget phrase as `error-<code>`; the extras it is raised with
(`amount_to_pay`, `available_from` ...) are the next step (docs/billing.md)."""

from __future__ import annotations

from backend.errors import Conflict, DomainError, NotFound, ValidationFailed


class BillingError(DomainError):
    """Errors of billing."""


# --- the read side, the catalogue, the ledger -------------------------------------------------


class NoSubscription(BillingError, NotFound):
    code = "no_subscription"
    detail = "the customer has no subscription"


class TariffNotFound(BillingError, NotFound):
    """No tariff with this id in the catalogue (the generic `not_found`)."""

    detail = "tariff not found"


class TariffNameTaken(BillingError, Conflict):
    code = "tariff_name_taken"
    detail = "a tariff with this name already exists"


class InvoiceNotFound(BillingError, NotFound):
    """No such invoice (or not the caller's). The payments API names it `invoice_not_found`
    (backend.payments.errors.InvoiceToPayNotFound)."""

    detail = "invoice not found"


class DuplicateReference(BillingError, Conflict):
    code = "duplicate_reference"
    detail = "this reference was already posted with different terms"


class BillingRunInProgress(BillingError, Conflict):
    code = "billing_run_in_progress"
    detail = "another billing run is in progress"


# --- shared by the customer's actions ---------------------------------------------------------


class SubscriptionBlocked(BillingError, Conflict):
    """Raised with `amount_to_pay`: the top-up that lifts the block."""

    code = "subscription_blocked"
    detail = "the subscription is blocked for debt; top up the balance first"


class SubscriptionSuspended(BillingError, Conflict):
    code = "subscription_suspended"
    detail = "the subscription is paused; resume it first"


# --- tariff change ----------------------------------------------------------------------------


class NewTariffNotFound(TariffNotFound):
    """The tariff a change asks for does not exist. Its own code (not the catalogue's generic
    `not_found`) so the bot and the widget can say which thing is missing."""

    code = "tariff_not_found"


class SameTariff(BillingError, Conflict):
    code = "same_tariff"
    detail = "this is already the current tariff"


class TariffInactive(BillingError, Conflict):
    code = "tariff_inactive"
    detail = "this tariff is no longer on sale"


class TariffNotAllowed(BillingError, Conflict):
    code = "tariff_not_allowed"
    detail = "a change from the current tariff to this one is not offered"


class PendingChangeExists(BillingError, Conflict):
    code = "pending_change_exists"
    detail = "a tariff change is already scheduled; cancel it first"


class LockedDuringPromisedPayment(BillingError, Conflict):
    code = "locked_during_promised_payment"
    detail = "the tariff cannot change while a promised payment is active; repay it first"


class TooSoon(BillingError, Conflict):
    code = "too_soon"
    detail = "the tariff was changed recently; try again later"


class ChangeNowNotAllowed(BillingError, Conflict):
    code = "change_now_not_allowed"
    detail = "only an upgrade can take effect now; this change waits for the next period"


class NoPendingChange(BillingError, Conflict):
    code = "no_pending_change"
    detail = "there is no scheduled tariff change to cancel"


# --- promised payment -------------------------------------------------------------------------


class PromisedPaymentRefused(BillingError, Conflict):
    """The base of the promised-payment refusals, which `promised.terms` answers with instead
    of raising. Never raised itself."""

    code = "pp_refused"
    detail = "a promised payment is not available"


class PpDisabled(PromisedPaymentRefused):
    code = "pp_disabled"
    detail = "promised payments are not offered"


class PpSubscriptionSuspended(SubscriptionSuspended, PromisedPaymentRefused):
    """`subscription_suspended` as a promised-payment refusal: a paused service needs none."""

    detail = "the subscription is paused; a promised payment is not needed"


class PpActive(PromisedPaymentRefused):
    code = "pp_active"
    detail = "a promised payment is already active"


class PpTooFrequent(PromisedPaymentRefused):
    code = "pp_too_frequent"
    detail = "the promised payment limit for 30 days is used up"


class PpPreviousNotRepaid(PromisedPaymentRefused):
    code = "pp_previous_not_repaid"
    detail = "the previous promised payment left a debt; pay it first"


class PpDebtTooLarge(PromisedPaymentRefused):
    code = "pp_debt_too_large"
    detail = "the debt is larger than a promised payment can cover; pay part of it first"


class BalanceSufficient(PromisedPaymentRefused):
    code = "balance_sufficient"
    detail = "the balance already covers the next days; nothing to promise"


# --- pause (voluntary suspension) -------------------------------------------------------------


class FreezeInvalidDates(BillingError, ValidationFailed):
    code = "freeze_invalid_dates"
    detail = "end_on must not be before start_on"


class FreezeInPast(BillingError, Conflict):
    code = "freeze_in_past"
    detail = "a pause starts today or later"


class FreezeStartTooFar(BillingError, Conflict):
    code = "freeze_start_too_far"
    detail = "a pause can be booked at most 90 days ahead"


class FreezeTooShort(BillingError, Conflict):
    code = "freeze_too_short"
    detail = "the pause is shorter than the minimum"


class FreezeTooLong(BillingError, Conflict):
    code = "freeze_too_long"
    detail = "the pause is longer than the maximum"


class FreezeOverlaps(BillingError, Conflict):
    code = "freeze_overlaps"
    detail = "another pause overlaps these dates"


class FreezeNegativeBalance(BillingError, Conflict):
    code = "freeze_negative_balance"
    detail = "a pause needs a balance of zero or more; top up first"


class SuspensionNotFound(BillingError, NotFound):
    detail = "suspension not found"


class FreezeNotCancellable(BillingError, Conflict):
    code = "freeze_not_cancellable"
    detail = "only a scheduled pause can be cancelled; resume an active one"


class FreezeNotActive(BillingError, Conflict):
    code = "freeze_not_active"
    detail = "only an active pause can be resumed; cancel a scheduled one"
