# Texts of the Rasa bridge (dialogs/rasa_actions.py). Balance, top-up and hand-over texts are
# shared with the engine (dialogs.ftl); refusals use the common error-<code> keys.

rasa-link-account = To answer that I need to know your contract. Link it in your account and write again.
rasa-error = Something went wrong. Please try again a little later or ask for an operator.
rasa-button-confirm = Confirm
rasa-button-cancel = Cancel

rasa-topup-ask-amount = How much would you like to pay? Write an amount from { NUMBER($min, maximumFractionDigits: 2) } to { NUMBER($max, maximumFractionDigits: 2) } ₽.

rasa-tariff-ask = Which tariff would you like? Available: { $tariffs }.
rasa-tariff-unknown = There is no tariff “{ $name }”. Available: { $tariffs }.
rasa-tariff-quote-now = Switch to “{ $name }” now: { NUMBER($total, minimumFractionDigits: 2) } ₽ is charged today, then { NUMBER($monthly, minimumFractionDigits: 2) } ₽ a month. Confirm?
rasa-tariff-quote-next = Switch to “{ $name }” from { $date }: { NUMBER($monthly, minimumFractionDigits: 2) } ₽ a month. Confirm?
rasa-tariff-changed = Done: your tariff is now “{ $name }”.
rasa-tariff-scheduled = Done: “{ $name }” starts on { $date }.

rasa-pp-terms = I can give you a promised payment: { NUMBER($amount, minimumFractionDigits: 2) } ₽ for { $days } { $days ->
    [one] day
   *[other] days
}, fee { NUMBER($fee, minimumFractionDigits: 2) } ₽. Repay by { $until }. Take it?
rasa-pp-taken = Done: { NUMBER($amount, minimumFractionDigits: 2) } ₽ credited until { $until }. Your balance is { NUMBER($balance, minimumFractionDigits: 2) } ₽.

rasa-ticket-ask-description = Please describe the problem and I will pass it to support.
rasa-ticket-subject = Chat request: { $category }
rasa-ticket-created = Ticket #{ $id } is open. We will let you know when there is news.

rasa-documents-ask-type = Which document do you need: contract, invoice or act?
rasa-documents-none = There is no such document yet.
rasa-documents-link = { $title } ({ $period }): { $url }
