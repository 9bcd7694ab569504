# Payments: the sandbox checkout page, the payment status page, texts sent to payment
# providers and Telegram invoices, and the reasons a payment is refused.

## The sandbox checkout page (/pay/sandbox/{id})

payments-checkout-title = Pay for your internet service
payments-checkout-sandbox-note = Test checkout: no real money is taken.
# $amount (number, major units); $currency (string) ISO code, e.g. RUB
payments-checkout-amount = { NUMBER($amount, minimumFractionDigits: 2, maximumFractionDigits: 2) } { $currency ->
        [RUB] ₽
       *[other] { $currency }
    }
payments-checkout-pay = Pay
payments-checkout-decline = Decline

## The payment status page (/pay/status/{id})

payments-status-title = Payment status
payments-status-pending = Waiting for the payment to be confirmed…
payments-status-succeeded = Payment received, the money is on your account.
payments-status-cancelled = The payment was cancelled; no money was taken.
payments-status-failed = The payment failed. If money was taken, please contact support.
payments-status-expired = The payment was not completed in time; no money was taken. Start a new one if you still want to pay.
payments-status-return = You can now return to the chat or the app.
payments-status-return-link = Go back

## Error pages

payments-error-title = Payment
payments-error-not-found = Payment not found. Check the link or start a new payment.
payments-error-form-token = This page is out of date. Reload it and try again.

## Texts given to payment providers

# $contract (string) the contract number
payments-topup-description = Balance top-up, contract { $contract }
# Telegram limits: title up to 32 characters, description up to 255.
payments-telegram-invoice-title = Balance top-up
payments-telegram-invoice-description = Payment for internet service, contract { $contract }. The money reaches your account as soon as you pay.
payments-telegram-price-label = Balance top-up

## Reasons (error codes of the API and of the Telegram pre-checkout)

error-payment-not-found = Payment not found. Please start a new payment.
error-payment-already-paid = This invoice has already been paid.
error-payment-not-payable = This payment can no longer be paid. Please start a new one.
error-payment-amount-mismatch = The amount does not match the invoice. Please start a new payment.
error-payment-currency-mismatch = The currency does not match the invoice. Please start a new payment.
error-amount-required = Please enter the amount to top up.
# $min, $max (numbers, major units)
error-amount-out-of-range = A top-up must be between { NUMBER($min, minimumFractionDigits: 2) } and { NUMBER($max, minimumFractionDigits: 2) } ₽.
error-unknown-provider = There is no such payment method.
error-provider-disabled = This payment method is not available right now.
error-provider-unavailable = The payment system is not responding. Please try again in a few minutes.
error-unsupported-currency = Payments are accepted in the account's currency only.
error-invalid-return-url = This return address is not allowed.
error-invoice-not-payable = This invoice has already been paid or cancelled.
