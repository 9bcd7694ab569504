# Billing flows of the conversation engine (dialogs/flows/promised, tariffs, services, suspend,
# settings). Refusals reuse `error-<code>` from billing.ftl. Amounts are numbers in major units;
# dates arrive formatted for the locale.

## Shared

dialogs-billing-refused = This is not available now. Write to an operator if you need help.
dialogs-billing-no-subscription = You have no service connected.
# $amount (number)
dialogs-billing-pay-amount = 💳 Top up { NUMBER($amount, maximumFractionDigits: 2) } RUB

## Promised payment

dialogs-pp-menu = 🤝 Promised payment
# $days, $per30 (number); $debt, $daily, $amount, $fee (number); $free: yes | no; $until (string)
dialogs-pp-terms = Access for { $days } { $days ->
        [one] day
       *[other] days
    }: { NUMBER($debt, maximumFractionDigits: 2) } RUB of debt + { $days } × { NUMBER($daily, maximumFractionDigits: 2) } RUB = { NUMBER($amount, maximumFractionDigits: 2) } RUB. { $free ->
        [yes] Free of charge.
       *[other] Fee { NUMBER($fee, maximumFractionDigits: 2) } RUB.
    } Repay by { $until }. Available { $per30 ->
        [one] once
       *[other] { $per30 } times
    } in 30 days.
dialogs-pp-take = ✅ Take it
# $amount (number) to repay; $until (string); $balance (number)
dialogs-pp-done = Done: { NUMBER($amount, minimumFractionDigits: 2) } RUB credited, balance { NUMBER($balance, minimumFractionDigits: 2) } RUB. Repay by { $until }.
dialogs-pp-done-restored = Done, the internet will be back within 2 minutes. { NUMBER($amount, minimumFractionDigits: 2) } RUB credited; repay by { $until }.

## Tariffs

dialogs-tariff-menu = 📋 Tariff
dialogs-tariff-list-button = 📋 Tariffs
dialogs-tariff-none = There are no tariffs to connect now.
dialogs-tariff-list-title = Tariffs:
# $name (string); $down, $up (number, Mbit/s); $price (number); $period: monthly | daily; $current: yes | no
dialogs-tariff-line = { $current ->
        [yes] ✅
       *[no] •
    } «{ $name }» — { $down }/{ $up } Mbit/s — { NUMBER($price, maximumFractionDigits: 2) } RUB/{ $period ->
        [daily] day
       *[monthly] month
    }{ $current ->
        [yes] {" "}(your tariff)
       *[no] {""}
    }
# $name (string)
dialogs-tariff-switch-to = Switch to «{ $name }»
# $name (string); $price (number) a month; $down (number)
dialogs-tariff-choose = Your tariff is «{ $name }»: { NUMBER($price, maximumFractionDigits: 2) } RUB/month, { $down } Mbit/s. Which one do you want?
# $name (string); $price, $diff (number) a month; $sign: "+", "−" or "±"
dialogs-tariff-target = «{ $name }» · { NUMBER($price, maximumFractionDigits: 2) } RUB/month · { $sign }{ NUMBER($diff, maximumFractionDigits: 2) } RUB
# $name (string)
dialogs-tariff-no-targets = There is no tariff to switch to from «{ $name }» now.
# $name (string); $date (string, 12/01); $amount (number); $days (number)
dialogs-tariff-when = «{ $name }»: from { $date } or now (paying { NUMBER($amount, maximumFractionDigits: 2) } RUB for { $days } { $days ->
        [one] day
       *[other] days
    })?
# $date (string)
dialogs-tariff-when-next = From { $date }
dialogs-tariff-when-now = Now
# $name (string); $amount, $price (number)
dialogs-tariff-confirm-now = Switch to «{ $name }» now? { NUMBER($amount, minimumFractionDigits: 2) } RUB will be charged, then { NUMBER($price, maximumFractionDigits: 2) } RUB/month.
# $name (string); $date (string); $price, $fee (number); $free: yes | no
dialogs-tariff-confirm-next = Switch to «{ $name }» from { $date }? The new price is { NUMBER($price, maximumFractionDigits: 2) } RUB/month{ $free ->
        [yes] ; the change is free.
       *[other] ; the change costs { NUMBER($fee, minimumFractionDigits: 2) } RUB.
    }
dialogs-tariff-confirm-button = ✅ Confirm
# $name (string); $amount (number) charged now
dialogs-tariff-changed = Done: your tariff is «{ $name }». { NUMBER($amount, minimumFractionDigits: 2) } RUB charged.
# $name (string); $date (string, 12/01)
dialogs-tariff-scheduled = The change to «{ $name }» is scheduled for { $date }.
dialogs-tariff-cancel-pending = ↩️ Cancel the change
dialogs-tariff-cancel-pending-yes = ✅ Yes, cancel the change
# $name (string); $date (string)
dialogs-tariff-pending = A change to «{ $name }» from { $date } is already scheduled. Cancel it to choose another tariff.
dialogs-tariff-cancel-pending-ask = Cancel the change to «{ $name }» from { $date }?
# $name (string)
dialogs-tariff-pending-cancelled = The change to «{ $name }» is cancelled. Your tariff stays as it is.

## My services

dialogs-services-menu = 📦 My services
# $started (string)
dialogs-services-title = Internet, connected since { $started }:
dialogs-services-active = 🟢 Working.
# $debt (number)
dialogs-services-blocked = 🔴 Blocked for a debt of { NUMBER($debt, minimumFractionDigits: 2) } RUB. Top up or take a promised payment: the internet is back within 2 minutes.
# $end (string)
dialogs-services-frozen = ⏸ Paused until { $end } inclusive. You can resume it any time.
# $name (string); $date (string)
dialogs-services-scheduled-change = 🔜 From { $date }: tariff «{ $name }».
# $start, $end (string)
dialogs-services-freeze-scheduled = ❄️ Pause scheduled: { $start } — { $end }.
# $days (number)
dialogs-services-free-days = Free pause days left this year: { $days }.
# $balance (number); $until (string)
dialogs-services-balance-until = 💰 { NUMBER($balance, minimumFractionDigits: 2) } RUB, enough until { $until }.
dialogs-services-balance = 💰 { NUMBER($balance, minimumFractionDigits: 2) } RUB.
dialogs-services-none = You have no service connected. Balance { NUMBER($balance, minimumFractionDigits: 2) } RUB.

## Suspension

dialogs-freeze-menu = ❄️ Pause
dialogs-freeze-ask-from = From which day? Or type a date, e.g. 05.12 (day.month).
dialogs-freeze-from-today = From today
dialogs-freeze-from-tomorrow = From tomorrow
# $start (string)
dialogs-freeze-ask-length = A pause from { $start }. For how long? Or type the last day, e.g. 20.12 (day.month).
# $days (number)
dialogs-freeze-days = { $days } { $days ->
        [one] day
       *[other] days
    }
# $start, $end, $resume (string); $days, $free, $paid (number); $fee, $daily (number)
dialogs-freeze-quote = A pause from { $start } to { $end }: { $days } { $days ->
        [one] day
       *[other] days
    }, { $free } free, { $paid } paid{ $paid ->
        [0] {""}: free of charge.
       *[other] {""} at { NUMBER($daily, maximumFractionDigits: 2) } RUB: { NUMBER($fee, maximumFractionDigits: 2) } RUB.
    } No subscription fee is charged. The internet is back on { $resume }. Pause it?
dialogs-freeze-confirm-button = ❄️ Pause
# $start, $end, $resume (string)
dialogs-freeze-started = Done: the service is paused until { $end }, back on { $resume }. You can resume it any time.
dialogs-freeze-scheduled = Done: a pause from { $start } to { $end }. The internet is back on { $resume }.
# $end (string)
dialogs-freeze-frozen = The service is paused until { $end } inclusive.
dialogs-freeze-resume-button = ▶️ Resume
dialogs-freeze-resume-ask = Resume now? The internet comes back at once and the subscription fee is charged from today.
dialogs-freeze-resume-yes = ✅ Yes, resume
dialogs-freeze-resumed = Done: the service is resumed; the internet will be back within 2 minutes.
dialogs-freeze-not-frozen = The service is not paused now.

## Settings

dialogs-settings-menu = ⚙️ Settings
# $lang: ru | en
dialogs-settings-title = Settings. Language: { $lang ->
        [en] English
       *[ru] Russian
    }.
dialogs-settings-lang-button = 🌐 Language
dialogs-settings-notify-button = 🔔 Notifications
dialogs-settings-ask-lang = Choose a language:
dialogs-settings-lang-ru = Русский
dialogs-settings-lang-en = English
dialogs-settings-lang-set = Done, I speak English now.
dialogs-settings-ask-notify = Which notifications should I send? Tap to switch one on or off.
# $topic: billing | outages | tickets | marketing; $on: yes | no
dialogs-settings-topic = { $on ->
        [yes] ✅
       *[no] ⬜
    } { $topic ->
        [billing] Balance and payments
        [outages] Outages
        [tickets] Tickets
       *[marketing] News and offers
    }
dialogs-settings-topic-on = On: { $topic ->
        [billing] balance and payments
        [outages] outages
        [tickets] tickets
       *[marketing] news and offers
    }.
dialogs-settings-topic-off = Off: { $topic ->
        [billing] balance and payments
        [outages] outages
        [tickets] tickets
       *[marketing] news and offers
    }.

## Settings: the question after linking Telegram, and the always-sent security notices
## (dialogs/flows/settings.py)

dialogs-settings-ask-billing = Get balance notifications? I will remind you when your money runs low and tell you when a payment arrives.
dialogs-settings-billing-yes = ✅ Yes
dialogs-settings-billing-no = No
dialogs-settings-billing-on = Done, I will send you balance and payment notifications. You can change this in «⚙️ Settings» → «🔔 Notifications».
dialogs-settings-billing-off = Done, no balance notifications. You can turn them on in «⚙️ Settings» → «🔔 Notifications».
dialogs-settings-security-always = Security notices (a sign-in from a new device, a password change, Telegram linked) always arrive.
