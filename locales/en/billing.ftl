# Billing actions: tariff change, promised payment, voluntary suspension.
# Refusal texts are `error-<code>` with the API's code in kebab-case; notification texts are
# keyed by the outbox event they render. Amounts are numbers in major units; dates and times
# arrive formatted by the caller in the customer's time zone.

## Refusals: tariff change

error-tariff-not-found = There is no such tariff.
error-same-tariff = This is your current tariff.
error-tariff-not-allowed = You cannot switch to this tariff from yours. Choose another one from the list.
error-tariff-inactive = This tariff is no longer available.
# $amount (number) the debt to pay
error-subscription-blocked = Your service is blocked for debt. Top up { NUMBER($amount, minimumFractionDigits: 2) } RUB first.
error-subscription-suspended = Your service is paused. Resume it first.
error-pending-change-exists = A tariff change is already scheduled. Cancel it to choose another tariff.
error-locked-during-promised-payment = The tariff cannot change while a promised payment is active. Repay it first.
# $date (string) when a change becomes possible
error-too-soon = The tariff was changed recently. The next change is possible from { $date }.
error-change-now-not-allowed = Only a more expensive tariff can start at once; this one starts with the next month.
error-no-pending-change = There is no scheduled tariff change.

## Refusals: promised payment

error-pp-disabled = Promised payments are not offered.
error-pp-active = A promised payment is already active. Top up to repay it.
# $date (string) when the next one becomes available
error-pp-too-frequent = A promised payment is available once in 30 days. The next one from { $date }.
# $amount (number) the debt left by the previous promised payment
error-pp-previous-not-repaid = The previous promised payment is not repaid: pay { NUMBER($amount, minimumFractionDigits: 2) } RUB.
# $amount (number) what to pay before a promised payment becomes possible
error-pp-debt-too-large = The debt is too large for a promised payment. Pay { NUMBER($amount, minimumFractionDigits: 2) } RUB and it becomes available.
error-balance-sufficient = Your balance is enough; no promised payment is needed.

## Refusals: suspension

error-freeze-invalid-dates = The end date is before the start date.
error-freeze-in-past = A pause can start today or later.
# $date (string) the latest possible start
error-freeze-start-too-far = A pause can be booked to start no later than { $date }.
# $days (number)
error-freeze-too-short = A pause lasts at least { $days ->
        [one] { $days } day
       *[other] { $days } days
    }.
# $days (number)
error-freeze-too-long = A pause lasts at most { $days ->
        [one] { $days } day
       *[other] { $days } days
    }.
error-freeze-overlaps = There is already a pause on these dates.
# $amount (number) the debt
error-freeze-negative-balance = A pause needs a balance of zero or more. Top up { NUMBER($amount, minimumFractionDigits: 2) } RUB.
error-freeze-not-cancellable = The pause has started; you can resume the service instead.
error-freeze-not-active = This pause has not started yet; you can cancel it.

## Notifications (outbox events)

# $tariff (string) the new tariff's name; $date (string) the day it took effect
billing-tariff-changed = Your tariff is «{ $tariff }» from { $date }.
    .subject = Tariff changed
# $tariff (string); $date (string) the day it takes effect
billing-tariff-change-scheduled = The change to «{ $tariff }» is scheduled for { $date }. Changed your mind? Cancel it in the Tariff menu.
    .subject = Tariff change scheduled
billing-tariff-change-cancelled = The scheduled tariff change is cancelled.
    .subject = Tariff change cancelled
# $amount (number); $until (string) when it has to be repaid
billing-promised-payment-granted = A promised payment of { NUMBER($amount, minimumFractionDigits: 2) } RUB is on. Top up by { $until }.
    .subject = Promised payment granted
# $amount (number); $until (string)
billing-promised-payment-expiring = Your promised payment of { NUMBER($amount, minimumFractionDigits: 2) } RUB ends { $until }. Top up to stay connected.
    .subject = Promised payment ending
# $balance (number) the balance after the credit was taken back
billing-promised-payment-expired = Your promised payment has ended. Balance: { NUMBER($balance, minimumFractionDigits: 2) } RUB.
    .subject = Promised payment ended
# $start, $end (string) the first and the last day of the pause
billing-suspension-scheduled = Pause booked: from { $start } to { $end }.
    .subject = Pause booked
# $resume (string) the first day of service after the pause
billing-suspension-started = Your service is paused. It resumes on { $resume }; you can resume it any time.
    .subject = Pause started
# $resume (string)
billing-suspension-ending = Your pause is ending: the service resumes on { $resume }.
    .subject = Pause ending
billing-suspension-ended = Your pause is over and the service works again.
    .subject = Pause ended
# $start (string)
billing-suspension-cancelled = The pause from { $start } is cancelled.
    .subject = Pause cancelled
