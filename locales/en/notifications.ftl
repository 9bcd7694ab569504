# Notifications delivered by the outbox worker (notifications/render.py).
# A message's value is the text; its `.subject` attribute is the email subject.
# The payload's "args" become the variables ($code, $minutes ...).

## auth

# $code (string) one-time code; $minutes (number) how long it is valid.
auth-password-reset-code =
    Your password reset code: { $code }
    The code is valid for { $minutes ->
        [one] { $minutes } minute
       *[other] { $minutes } minutes
    }.
    If you did not ask to reset your password, ignore this message. Never share the code.
    .subject = Password reset

## support

# $ticket (number) ticket number; $event answered | reply | status_changed; $status one of
# open, in_progress, resolved, closed. With answered: $answer (string) the specialist's answer,
# cut to about 1000 characters (reply: an answer without its text, from older rows).
ticket-updated =
    { $event ->
        [answered] Our specialist answered ticket #{ NUMBER($ticket, useGrouping: 0) }:
            { $answer }
            You can reply in the chat or in your account.
        [reply] There is a new reply to ticket #{ NUMBER($ticket, useGrouping: 0) }. Read it in your account or in the chat.
       *[other] Ticket #{ NUMBER($ticket, useGrouping: 0) } has been updated. { $status ->
            [open] Status: open.
            [in_progress] Status: in progress.
            [resolved] Status: resolved. If the problem persists, reply to this message.
            [closed] Status: closed.
           *[other] See your account for details.
        }
    }
    .subject = Ticket #{ NUMBER($ticket, useGrouping: 0) } updated

## security (always sent: a customer cannot turn these off)

# $at (string) when, on the provider's clock; $device (string) the browser and system
# ("Chrome, Windows") or "none"; $network (string) the address with its last part hidden
# ("203.0.113.*") or "none".
auth-security-new-sign-in =
    New sign-in to your account from a new device: { $at }{ $device ->
        [none] {""}
       *[other] , { $device }
    }{ $network ->
        [none] {""}
       *[other] , address { $network }
    }.
    If this was not you, change your password and contact support.
    .subject = Sign-in from a new device

# $at (string) when; $how changed | reset (by a recovery code)
auth-security-password-changed =
    { $how ->
        [reset] Your account password was reset with a recovery code ({ $at }). You are signed out on every other device.
       *[other] Your account password was changed ({ $at }). You are signed out on every other device.
    }
    If this was not you, contact support at once.
    .subject = Password changed

# $at (string) when
auth-security-telegram-linked =
    Telegram was linked to your contract ({ $at }): the bot now shows your balance and payments.
    If this was not you, unlink it in your account, change your password and contact support.
    .subject = Telegram linked

## billing

# $balance (number, major units) the balance; $currency its code; $days (number) how many
# days it lasts at the current tariff.
billing-low-balance =
    Your balance is { NUMBER($balance, minimumFractionDigits: 2) } { $currency }, enough for about { $days ->
        [one] { $days } day
       *[other] { $days } days
    }. Top up to stay connected.
    .subject = Your balance is running low

# $currency (string) ISO code: how an amount's currency is written after the number.
notifications-currency-sign = { $currency }

# $promised yes | no: whether the provider offers promised payments.
billing-subscription-blocked =
    Your internet is suspended: there is not enough money on your account. { $promised ->
        [yes] Top up your balance or take a promised payment.
       *[no] Top up your balance and the service resumes automatically.
    }
    .subject = Internet suspended
billing-subscription-restored = Your internet is working again.
    .subject = Internet restored
# $number (string) the invoice number; $state due | paid | issued. With due and paid:
# $amount (number, major units), $currency (string), $due (string) the payment deadline.
billing-invoice-issued =
    { $state ->
        [due] Invoice No. { $number } for { NUMBER($amount, minimumFractionDigits: 2) } { notifications-currency-sign } has been issued. Please pay by { $due }.
        [paid] Invoice No. { $number } for { NUMBER($amount, minimumFractionDigits: 2) } { notifications-currency-sign } has been issued and already paid from your balance.
       *[other] Invoice No. { $number } has been issued. You can find it in your account.
    }
    .subject = Invoice No. { $number }

## payments

# $amount (number, major units) the payment; $balance (number) the balance after it;
# $currency (string) ISO code.
payments-credited = Payment of { NUMBER($amount, minimumFractionDigits: 2) } { notifications-currency-sign } received. Your balance is { NUMBER($balance, minimumFractionDigits: 2) } { notifications-currency-sign }.
    .subject = Payment received

# $title (string) what failed, as the network team named it; $eta (string) the expected fix
# time on the provider's clock, or "none"
network-outage-started = { $eta ->
    [none] There is a network outage affecting your connection: { $title }. We are already fixing it and will write when it is fixed.
   *[other] There is a network outage affecting your connection: { $title }. Expected fix by { $eta }. We will write when it is fixed.
}
    .subject = Network outage

# $title (string) what failed, as the network team named it
network-outage-resolved = The outage is fixed: { $title }. Your internet should work again; if not, restart your router or write to us.
    .subject = Outage fixed

# $title (string) what the work is, as the network team named it; $start (string) when it
# starts, on the provider's clock; $end (string) when it should end, or "none"
network-maintenance-planned = { $end ->
    [none] Planned network maintenance: { $title }. It starts at { $start }; your connection may drop for a while.
   *[other] Planned network maintenance: { $title }. From { $start } to { $end } your connection may drop.
}
    .subject = Planned network maintenance
