# Payments: the sandbox checkout page, the payment status page, texts sent to payment
# providers and Telegram invoices, and the reasons a payment is refused.

## The sandbox checkout page (/pay/sandbox/{id})

payments-checkout-title = Оплата услуг связи
payments-checkout-sandbox-note = Тестовая касса: настоящие деньги не списываются.
# $amount (number, major units); $currency (string) ISO code, e.g. RUB
payments-checkout-amount = { NUMBER($amount, minimumFractionDigits: 2, maximumFractionDigits: 2) } { $currency ->
        [RUB] ₽
       *[other] { $currency }
    }
payments-checkout-pay = Оплатить
payments-checkout-decline = Отказаться

## The payment status page (/pay/status/{id})

payments-status-title = Статус платежа
payments-status-pending = Ждём подтверждения оплаты…
payments-status-succeeded = Оплата прошла, деньги зачислены на счёт.
payments-status-cancelled = Платёж отменён, деньги не списаны.
payments-status-failed = Платёж не прошёл. Если деньги списались, напишите в поддержку.
payments-status-expired = Платёж не был завершён вовремя, деньги не списаны. Если ещё хотите оплатить, начните новый.
payments-status-return = Теперь можно вернуться в чат или в приложение.
payments-status-return-link = Вернуться

## Error pages

payments-error-title = Платёж
payments-error-not-found = Платёж не найден. Проверьте ссылку или создайте новый платёж.
payments-error-form-token = Страница устарела. Обновите её и попробуйте ещё раз.

## Texts given to payment providers

# $contract (string) the contract number
payments-topup-description = Пополнение баланса по договору { $contract }
# Telegram limits: title up to 32 characters, description up to 255.
payments-telegram-invoice-title = Пополнение баланса
payments-telegram-invoice-description = Оплата услуг связи по договору { $contract }. Деньги поступят на счёт сразу после оплаты.
payments-telegram-price-label = Пополнение баланса

## Reasons (error codes of the API and of the Telegram pre-checkout)

error-payment-not-found = Платёж не найден. Создайте новый платёж.
error-payment-already-paid = Этот счёт уже оплачен.
error-payment-not-payable = Этот платёж больше нельзя оплатить. Создайте новый.
error-payment-amount-mismatch = Сумма не совпадает со счётом. Создайте новый платёж.
error-payment-currency-mismatch = Валюта не совпадает со счётом. Создайте новый платёж.
error-amount-required = Укажите сумму пополнения.
# $min, $max (numbers, major units)
error-amount-out-of-range = Сумма пополнения — от { NUMBER($min, minimumFractionDigits: 2) } до { NUMBER($max, minimumFractionDigits: 2) } ₽.
error-unknown-provider = Такого способа оплаты нет.
error-provider-disabled = Этот способ оплаты сейчас недоступен.
error-provider-unavailable = Платёжная система не отвечает. Попробуйте через несколько минут.
error-unsupported-currency = Оплата принимается только в валюте счёта.
error-invalid-return-url = Недопустимый адрес возврата.
error-invoice-not-payable = Этот счёт уже оплачен или отменён.
