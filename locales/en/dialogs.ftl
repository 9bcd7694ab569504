# The conversation engine (dialogs/): the bot's and the widget's texts. Amounts are numbers in
# major units; dates arrive formatted for the locale ("September 18").

## Universal words (comma-separated, compared case- and punctuation-insensitively)

dialogs-words-cancel = cancel, stop, abort, quit
dialogs-words-back = back, go back
dialogs-words-menu = menu, main menu, start over
dialogs-words-agent = operator, agent, human, live agent

## Buttons

dialogs-button-back = ◀️ Back
dialogs-button-cancel = ✖️ Cancel
dialogs-button-menu = 🏠 Menu
dialogs-button-agent = 💬 Talk to an operator

## Main menu and its header card

dialogs-greeting = Hello! How can I help?
dialogs-menu-intro = Choose what you need, or write it in your own words.
dialogs-menu-anonymous-telegram = To see your balance and pay, connect your contract: /start.
dialogs-menu-anonymous-webchat = To see your balance and pay, sign in to your account.
# $name, $contract (string); $status: active | suspended | blocked | none
dialogs-header-customer = 👤 { $name } · contract { $contract } · { $status ->
        [active] 🟢 Active
        [suspended] ⏸ Paused
        [blocked] 🔴 Suspended
       *[other] ⚪ No service
    }
# $amount (number); $until (string); $tariff (string)
dialogs-header-balance-until = 💰 { NUMBER($amount, minimumFractionDigits: 2) } RUB · enough until { $until } · tariff «{ $tariff }»
# $amount (number)
dialogs-header-balance = 💰 { NUMBER($amount, minimumFractionDigits: 2) } RUB
dialogs-menu-top-up = 💳 Top up
dialogs-menu-agent = 💬 Support
dialogs-menu-balance = 💰 Balance
dialogs-menu-history = 🧾 History
dialogs-thanks = You're welcome!
dialogs-goodbye = Goodbye! Write any time.

## Balance and history

# $amount (number)
dialogs-balance = Your balance is { NUMBER($amount, minimumFractionDigits: 2) } RUB.
# $amount (number) the debt
dialogs-balance-debt = You owe { NUMBER($amount, minimumFractionDigits: 2) } RUB. Top up to keep the internet on.
# $amount (number); $days (number); $until (string)
dialogs-balance-days = Your balance is { NUMBER($amount, minimumFractionDigits: 2) } RUB — enough for { $days } { $days ->
        [one] day
       *[other] days
    }, until { $until }.
dialogs-history-title = Recent operations:
# $date (string); $amount (number, signed); $reason (string)
dialogs-history-line = { $date }: { NUMBER($amount, minimumFractionDigits: 2) } RUB — { $reason ->
        [topup] top-up
        [charge] subscription fee
        [refund] refund
        [fee] fee
        [promised_payment] promised payment
        [promised_payment_reversal] promised payment returned
        [adjustment] adjustment
       *[other] opening balance
    }
dialogs-history-explain = The monthly fee is charged every day in equal daily shares.
dialogs-history-empty = No operations yet.

## Top-up

dialogs-topup-ask = How much would you like to pay?
# $debt (number)
dialogs-topup-ask-debt = You owe { NUMBER($debt, minimumFractionDigits: 2) } RUB. How much would you like to pay?
# $amount (number)
dialogs-topup-preset-debt = { NUMBER($amount, maximumFractionDigits: 2) } RUB — the debt
dialogs-topup-preset-month = { NUMBER($amount, maximumFractionDigits: 2) } RUB — a month
dialogs-topup-preset-3-months = { NUMBER($amount, maximumFractionDigits: 2) } RUB — 3 months
dialogs-topup-preset-other = Another amount
# $min, $max (number)
dialogs-topup-type-amount = Type the amount in rubles, from { NUMBER($min, maximumFractionDigits: 2) } to { NUMBER($max, maximumFractionDigits: 2) } RUB.
dialogs-topup-out-of-range = The amount must be from { NUMBER($min, maximumFractionDigits: 2) } to { NUMBER($max, maximumFractionDigits: 2) } RUB. Type another one.
# $amount (number)
dialogs-topup-link = Your bill for { NUMBER($amount, minimumFractionDigits: 2) } RUB is ready. Pay with the link — the money arrives as soon as you pay.
dialogs-topup-invoice = A bill for { NUMBER($amount, minimumFractionDigits: 2) } RUB: pay it right here in Telegram.
dialogs-topup-rate-limited = Too many bills this hour. Try later, or pay one you already have.
dialogs-topup-failed = The payment could not be created. Please try again a little later.

## Identification

dialogs-identify-telegram = For this, connect your contract first: open your account → "Connect Telegram", or send /start and share your phone number.
dialogs-identify-webchat = For this, please sign in: open the chat from your account, or give your contract number and password.

## Handover

# $minutes (number)
dialogs-handover-waiting = I am passing the conversation to an operator. We will answer within { $minutes } { $minutes ->
        [one] minute
       *[other] minutes
    }.
dialogs-handover-still-waiting = An operator will answer soon and will see your message.
dialogs-handover-agent-joined = An operator has joined the conversation.
dialogs-handover-agent-joined-named = Operator { $name } has joined the conversation.
dialogs-handover-transferred = Another operator has taken over the conversation and sees everything so far.
dialogs-handover-transferred-named = Operator { $name } has taken over the conversation and sees everything so far.
dialogs-handover-released = The operator has finished. I am back — how can I help?
dialogs-handover-closed = The conversation is closed. Write any time if you need anything else.

## Fallbacks and bad input

dialogs-fallback = I did not understand. Choose from the menu or put it another way.
dialogs-fallback-in-flow = I did not understand the answer.
dialogs-fallback-agent = It seems I cannot help with this. Shall I call an operator?
dialogs-empty-input = The message is empty. Write what you need or choose from the menu.
dialogs-unsupported-input = I cannot read this kind of message yet. Please write in text.
dialogs-no-words = I understand words only — please write what you need.
# $max (number)
dialogs-too-long = The message is too long. Please keep it under { $max } characters.
dialogs-stale-button = This button is out of date.
dialogs-cancelled = Cancelled. Anything else?
dialogs-nothing-to-cancel = There is nothing to cancel.
dialogs-error = Something went wrong. Please try again or talk to an operator.

## The web chat socket's error frames (backend/webchat/chat_socket.py)
dialogs-webchat-bad-frame = The message could not be read. Please try again.
dialogs-webchat-frame-too-large = The message is too long to send.
dialogs-webchat-rate-limited = You are sending messages too fast. Please wait a moment.
